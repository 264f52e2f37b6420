"""The picture inside black bars (letterbox, pillarbox, windowbox), found once per file.

A scope film delivered in a 16:9 frame, or a 4:3 one in HD, carries bars that are the
same black in every frame. Analysed whole, the bars shrink the picture the detector sees
(a pillarboxed picture loses a quarter of its width at the analysis size) and move the
frame's edges off the picture's: things leave the picture where the detector sees no edge.
Nine of Big Buck Bunny's nut hits, letterboxed in a 4:3 frame, gave eight cues read whole;
pillarboxed in 2.39:1, four (tests/test_real_media.py); inside the bars, all nine. The whole
film so framed (bench/spotting_real.py --framed): contact recall 0.48 without bars, 0.43
letterboxed and 0.22 pillarboxed read whole, 0.48 and 0.48 inside the bars.

The film's own dark frames are not bars: somewhere in a file something lights every row of
its picture. So the matte is read off pictures spread over the whole file (a keyframe near
each of a dozen places): a row or column is a bar when it is dark in every one of them. Bars
come in pairs (top and bottom, left and right) of about the same size; a dark sky over a lit
ground is not a letterbox.
"""

from __future__ import annotations

import logging

import av
import numpy as np

from .info import Matte, MediaInfo, open_media

logger = logging.getLogger(__name__)

SAMPLES = 12  # places in the file a picture is read from
_DARK = 28  # 8-bit luma (0-255, after swscale's range conversion): video black is 0-16
_LIT_SHARE = 0.01  # a line is lit when more than this share of its pixels is above _DARK
_LEAST_BAR = 0.01  # of the frame's side: thinner bars are left (encoders' edge lines)
_LEAST_PICTURE = 0.3  # of the frame's side: a smaller "picture" is a dark film, not bars
_PAIRED = 0.25  # the two bars of a pair differ by at most this share of the larger one


def find_matte(info: MediaInfo) -> Matte | None:
    """The picture inside black bars that every sampled picture of ``info`` shares, or None
    where the frame is all picture (or too few pictures could be read to tell)."""
    if info.is_still or info.frame_count < 2:
        return None
    lit_rows, lit_cols, seen = _lit_lines(info)
    if seen < 2:
        return None
    rows = _span(lit_rows)
    cols = _span(lit_cols)
    if rows is None or cols is None:
        return None  # nothing lit anywhere: no picture to find bars around
    y0, y1 = rows
    x0, x1 = cols
    if not _bars(y0, info.height - y1, info.height):
        y0, y1 = 0, info.height
    if not _bars(x0, info.width - x1, info.width):
        x0, x1 = 0, info.width
    if (x0, y0, x1, y1) == (0, 0, info.width, info.height):
        return None
    x0, y0 = x0 + x0 % 2, y0 + y0 % 2  # inwards to even lines
    x1, y1 = x1 - x1 % 2, y1 - y1 % 2
    return Matte(x0, y0, x1 - x0, y1 - y0)


def _lit_lines(info: MediaInfo) -> tuple[np.ndarray, np.ndarray, int]:
    """Which rows and columns are lit in any sampled picture, and how many were read."""
    rows = np.zeros(info.height, bool)
    cols = np.zeros(info.width, bool)
    seen: set[int] = set()
    try:
        with open_media(info.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for k in range(SAMPLES):
                at = info.start_pts + round((k + 0.5) / SAMPLES * info.duration_s / info.time_base)
                grey = _picture_near(container, stream, at)
                if grey is None or grey[0] in seen or grey[1].shape != (info.height, info.width):
                    continue
                seen.add(grey[0])
                bright = grey[1] > _DARK
                rows |= bright.mean(axis=1) > _LIT_SHARE
                cols |= bright.mean(axis=0) > _LIT_SHARE
    except av.error.FFmpegError as exc:
        logger.debug("matte of %s not read: %s", info.path, exc)
    return rows, cols, len(seen)


def _picture_near(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, at: int
) -> tuple[int, np.ndarray] | None:
    """(timestamp, grey picture) of the keyframe at or before ``at``; None where the file
    gives none there (a packet that does not decode is passed over: the others still tell)."""
    try:
        container.seek(at, stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            return (at if frame.pts is None else frame.pts), frame.to_ndarray(format="gray")
    except av.error.FFmpegError as exc:
        logger.debug("no picture near %d in %s: %s", at, container.name, exc)
    return None


def _span(lit: np.ndarray) -> tuple[int, int] | None:
    where = np.flatnonzero(lit)
    return None if where.size == 0 else (int(where[0]), int(where[-1]) + 1)


def _bars(before: int, after: int, side: int) -> bool:
    """Two bars of a pair: both there, about the same size, a picture left between them."""
    least = max(2, _LEAST_BAR * side)
    if before < least or after < least:
        return False
    if side - before - after < _LEAST_PICTURE * side:
        return False
    return abs(before - after) <= _PAIRED * max(before, after)
