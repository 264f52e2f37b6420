"""Training the paper's learned parts: ``sonicvision train adapter`` (the time-controllable
adapter, adapter.py) and ``sonicvision train detector`` (the timestamp detector, detector.py)."""
