"""Decode a stretch of a file's sound, placed by its timestamps.

Each decoded frame's samples go where its presentation time says, so an encoder's priming
delay (AAC), a stream that starts late or a gap in the stream lands where a player would
play it. Channels are averaged to mono; the file's own sample rate is kept (placing a
transient "to the sample" means the file's sample).
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from sonicvision.errors import MediaError

logger = logging.getLogger(__name__)


def audio_stream_count(path: Path) -> int:
    """How many audio streams the file has (0 when it cannot be opened)."""
    try:
        with av.open(str(path)) as container:
            return len(container.streams.audio)
    except (av.error.FFmpegError, UnicodeDecodeError):
        return 0


def _mono(frame: av.AudioFrame) -> np.ndarray:
    data = frame.to_ndarray()
    channels = len(frame.layout.channels) or 1
    if not frame.format.is_planar:
        data = data.reshape(-1, channels).T
    if data.dtype.kind == "i":
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
    elif data.dtype.kind == "u":
        data = (data.astype(np.float32) - 128.0) / 128.0
    return data.astype(np.float32).mean(axis=0)


def read_audio(
    path: Path, start_s: float, duration_s: float, stream: int = 0
) -> tuple[np.ndarray, int]:
    """Mono samples of audio stream ``stream`` from file time ``start_s`` for ``duration_s``,
    and the sample rate. File time is the container's presentation time in seconds; what
    the file does not cover is silence."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"Cannot open the guide audio: {exc}", path=path) from exc
    with container:
        if stream >= len(container.streams.audio):
            raise MediaError(f"The file has no audio stream {stream}.", path=path)
        st = container.streams.audio[stream]
        rate = int(st.codec_context.sample_rate or st.rate or 0)
        if rate <= 0:
            raise MediaError("The audio stream has no sample rate.", path=path)
        out = np.zeros(max(0, round(duration_s * rate)), dtype=np.float32)
        if not len(out):
            return out, rate
        tb = Fraction(st.time_base) if st.time_base else Fraction(1, rate)
        if start_s > 1.0:
            container.seek(int((start_s - 1.0) / tb), stream=st, backward=True, any_frame=False)
        cursor: Fraction | None = None  # where a frame without a timestamp goes
        try:
            for frame in container.decode(st):
                at = Fraction(frame.pts) * tb if frame.pts is not None else cursor
                if at is None:
                    at = Fraction(0)
                samples = _mono(frame)
                cursor = at + Fraction(len(samples), frame.sample_rate or rate)
                first = round((at - Fraction(start_s)) * rate)
                if first >= len(out):
                    break
                lo, hi = max(0, first), min(len(out), first + len(samples))
                if hi > lo:
                    out[lo:hi] = samples[lo - first : hi - first]
        except av.error.FFmpegError as exc:
            raise MediaError(f"Decoding the guide audio failed: {exc}", path=path) from exc
    return out, rate
