"""Production-like sound for tests of the guide: room tone, hits, music, and muxing to video.

Speech comes from a recording (tests/fixtures/speech_espeak.flac, espeak-ng); everything
else is made here from a seed, so a test knows to the sample where each hit starts.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from scipy.signal import butter, resample_poly, sosfilt


def room_tone(seconds: float, rate: int, level_db: float = -50.0, seed: int = 0) -> np.ndarray:
    """Broadband noise with less top (a room, an air conditioner) and a little mains hum."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    noise = sosfilt(butter(1, 1500, fs=rate, output="sos"), rng.standard_normal(n))
    noise += 0.3 * sosfilt(
        butter(2, [2000, 8000], "bandpass", fs=rate, output="sos"), rng.standard_normal(n)
    )
    t = np.arange(n) / rate
    noise += 0.2 * np.sin(2 * np.pi * 50 * t)
    noise *= 10 ** (level_db / 20) / (np.sqrt(np.mean(noise**2)) + 1e-12)
    return noise.astype(np.float32)


def hit(rate: int, peak: float = 0.3, kind: str = "wood", seed: int = 0) -> np.ndarray:
    """A struck object: a click of noise and a few damped modes; its first sample is the
    contact."""
    rng = np.random.default_rng(seed)
    n = int(0.25 * rate)
    t = np.arange(n) / rate
    modes = {"wood": (310, 720, 1350), "metal": (880, 2130, 3950), "step": (120, 260, 900)}[kind]
    decay = {"wood": 30.0, "metal": 9.0, "step": 45.0}[kind]
    body = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) / (i + 1) for i, f in enumerate(modes))
    click = rng.standard_normal(n) * np.exp(-t * 400)
    out = (0.6 * body * np.exp(-t * decay) + click).astype(np.float64)
    out[0] = 0.0
    out *= peak / np.max(np.abs(out))
    return out.astype(np.float32)


def music(seconds: float, rate: int, bpm: float = 120.0, level: float = 0.2, seed: int = 0):
    """A score: sustained chords (slow attacks) over a regular kick and hi-hat beat."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    out = np.zeros(n)
    chords = ((220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6))
    bar = 4 * 60.0 / bpm
    for k in range(int(np.ceil(seconds / bar))):
        a, b = int(k * bar * rate), min(n, int((k + 1) * bar * rate))
        tt = t[a:b] - t[a]
        env = np.minimum(1, tt / 0.15) * np.minimum(1, (t[b - 1] - t[a] - tt + 1e-3) / 0.1)
        for f in chords[k % len(chords)]:
            for h in (1, 2, 3):
                out[a:b] += env * np.sin(2 * np.pi * f * h * tt + rng.uniform(0, 6)) / h / 3
    beat = 60.0 / bpm
    kick_t = np.arange(int(0.3 * rate)) / rate
    kick = np.sin(2 * np.pi * (50 + 60 * np.exp(-kick_t * 30)) * kick_t) * np.exp(-kick_t * 12)
    hat = sosfilt(
        butter(2, 7000, "highpass", fs=rate, output="sos"), rng.standard_normal(int(0.04 * rate))
    )
    hat *= np.exp(-np.arange(len(hat)) / rate * 120) * 0.3
    for k in range(int(seconds / beat * 2)):
        at = int(k * beat / 2 * rate)
        piece = kick * 0.8 if k % 2 == 0 else hat
        stop = min(n, at + len(piece))
        out[at:stop] += piece[: stop - at]
    out *= level / np.max(np.abs(out))
    return out.astype(np.float32)


def load_speech(path: Path, rate: int) -> np.ndarray:
    """The speech recording at ``rate``, mono float."""
    import soundfile as sf

    data, src = sf.read(str(path), dtype="float32", always_2d=True)
    ratio = Fraction(rate, src)
    return resample_poly(data.mean(axis=1), ratio.numerator, ratio.denominator).astype(np.float32)


def place_at(base: np.ndarray, sound: np.ndarray, at: int) -> None:
    """Mix ``sound`` into ``base`` from sample ``at`` on (cut at the end)."""
    stop = min(len(base), at + len(sound))
    if stop > at:
        base[at:stop] += sound[: stop - at]


def mux_audio(video: Path, audio: np.ndarray, rate: int, out: Path, codec: str = "pcm_s16le"):
    """``video``'s pictures (copied, same timestamps) with ``audio`` as its sound, at 0 s.

    ``pcm_s16le`` needs a .mov; ``aac`` goes in .mp4 (with the encoder's priming delay
    handled by the container, as a camera's file has it).
    """
    with av.open(str(video)) as src, av.open(str(out), "w") as dst:
        vin = src.streams.video[0]
        vout = dst.add_stream_from_template(vin)
        aout = dst.add_stream(codec, rate=rate, layout="mono")
        for packet in src.demux(vin):
            if packet.dts is None:
                continue
            packet.stream = vout
            dst.mux(packet)
        pcm = np.clip(audio, -1, 1)
        fmt = "s16" if codec == "pcm_s16le" else "fltp"
        data = (pcm * 32767).astype(np.int16) if fmt == "s16" else pcm.astype(np.float32)
        size = 1024
        for first in range(0, len(data), size):
            chunk = data[first : first + size][None, :]
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(chunk), format=fmt, layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = first
            frame.time_base = Fraction(1, rate)
            for p in aout.encode(frame):
                dst.mux(p)
        for p in aout.encode():
            dst.mux(p)
    return out
