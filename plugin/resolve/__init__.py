"""The DaVinci Resolve script (``SonicVision Foley.py``) and the module it runs."""
