"""Audio helpers shared by the stages: one resampler for generators, training and placement."""

from __future__ import annotations

import math

import numpy as np
from scipy import signal


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling; the length becomes ceil(frames * sr_out / sr_in)."""
    if sr_in == sr_out:
        return np.asarray(audio, dtype=np.float32)
    g = math.gcd(sr_in, sr_out)
    out = signal.resample_poly(audio, sr_out // g, sr_in // g, axis=0)
    return out.astype(np.float32)
