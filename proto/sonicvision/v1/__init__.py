"""The gRPC contract, version 1: generated code (``proto/generate.py``), never edited by hand."""
