"""SonicVision: time-synchronised Foley for editors (SonicVisionLM inside the NLE)."""

__version__ = "0.1.0"
