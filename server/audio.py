"""Audio helpers shared by the stages: resampling, and whether a sound goes on or decays."""

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


def is_sustained(audio: np.ndarray, sr: int, window_s: float = 0.05) -> bool:
    """Does the sound go on (rain, an engine, a room) rather than decay from an attack?

    Sustained when the second half after the attack keeps within 10 dB of the first half
    (mean of ``window_s`` RMS windows); a hit, a slam or a shot falls much further.
    """
    level = np.mean(np.asarray(audio, dtype=np.float64) ** 2, axis=1)
    w = max(1, int(window_s * sr))
    if len(level) < 4 * w:
        return False
    rms = np.sqrt(level[: len(level) // w * w].reshape(-1, w).mean(axis=1))
    half = len(rms) // 2
    first, last = float(np.mean(rms[:half])), float(np.mean(rms[half:]))
    return first > 0 and last > first * 10 ** (-10 / 20)
