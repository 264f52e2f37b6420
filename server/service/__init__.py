"""The gRPC service: jobs over the pipeline, persisted in SQLite, behind health and auth.

``run_server`` (app) assembles it; ``SonicVisionClient`` (client) is what the CLI and the
editor plugins call it with. The contract is ``proto/sonicvision/v1/jobs.proto``.
"""
