"""Frame access for analysis: probe a media file, then decode the pictures a shot covers.

Timestamps are the truth. Frame ``n`` of a file is what a player shows ``n / rate`` after
its first picture: the decoded picture with the latest presentation time at or before it.
For constant-rate media that is exactly the n-th picture (found by its pts after a seek, so a
shot that starts on frame 1234 of a 23.976 file gets frame 1234 and not its neighbour). For
variable-rate media (phones), dropped frames and zero-size packets, the picture before is
held, as a player holds it. Regular repeats (2:3 pulldown, frame doubling) are taken out: the
frames are the unique pictures at their own cadence. What was odd about a file is said in
``MediaInfo.notes`` and in the iterator's ``notes``; only a used range that cannot be decoded
is an error.

Three rooms: ``info`` (the facts), ``probe`` (finding them), ``decode`` (the pictures).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .decode import FrameIterator, frames_of
from .info import ANALYSIS_WIDTH, IMAGE_SUFFIXES, Cadence, MediaInfo, analysis_size, picture_size
from .probe import find_cadence, probe

__all__ = [
    "ANALYSIS_WIDTH",
    "IMAGE_SUFFIXES",
    "Cadence",
    "FrameIterator",
    "MediaInfo",
    "analysis_size",
    "find_cadence",
    "iter_frames",
    "picture_size",
    "probe",
    "read_frames",
]


def read_frames(
    path: str | Path,
    start_frame: int,
    count: int,
    width: int | None = ANALYSIS_WIDTH,
    *,
    info: MediaInfo | None = None,
) -> np.ndarray:
    """Frames ``start_frame .. start_frame + count - 1`` as (T, H, W, 3) uint8 BGR.

    Resized to ``width`` pixels wide, never wider than the picture (even sides, aspect kept;
    None keeps the native size).
    A still image holds: every frame of any range is the image. Pass ``info`` from
    :func:`probe` to skip probing again.
    """
    frames = iter_frames(path, start_frame, count, width, info=info)
    w, h = picture_size(frames.info, width)
    out = np.empty((count, h, w, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        out[i] = frame
    return out


def iter_frames(
    path: str | Path,
    start_frame: int = 0,
    count: int | None = None,
    width: int | None = ANALYSIS_WIDTH,
    *,
    info: MediaInfo | None = None,
    must: int | None = None,
) -> FrameIterator:
    """Like :func:`read_frames`, one (H, W, 3) frame at a time; ``count`` None: to the end.

    ``must``: how many of the frames must decode (default all); past them (a clip's
    handles) frames that the stream turns out not to hold repeat the last one.
    The range is checked here, before the first frame is decoded, so a bad request fails
    where it is made.
    """
    path = Path(path)
    if info is None:
        info = probe(path)
    if count is None:
        count = 1 if info.is_still else info.frame_count - start_frame
    return frames_of(info, start_frame, count, width, must)
