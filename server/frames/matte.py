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

The same pictures tell how bright the file is. The detector's thresholds are grey-level
differences, set on pictures of ordinary contrast (Big Buck Bunny and the live clips span
130-250 grey levels between their 1st and 99th percentiles): a dim picture (a night grade, an
underexposed shot) moves every difference under them. Big Buck Bunny graded half as bright
(``bench/spotting_real.py --framed dim``) gave precision 0.79 and recall 0.43 read as it is,
0.92 and 0.48 stretched (its copy at full brightness: 0.92 and 0.48). A file whose pictures
span fewer than ``_FLAT`` levels with their highlights under ``_DIM`` is stretched about its
black to ``_SPREAD`` (at most ``_MOST_GAIN`` times) before analysis. A flat picture that is
not dim (a plain wall or sky, a generated scene's backdrop) is read untouched: a small thing
against it already stands out by the full difference the thresholds expect.
"""

from __future__ import annotations

import logging

import av
import numpy as np

from .info import Matte, MediaInfo, Stretch, open_media

logger = logging.getLogger(__name__)

SAMPLES = 12  # places in the file a picture is read from
_DARK = 28  # 8-bit luma (0-255, after swscale's range conversion): video black is 0-16
_LIT_SHARE = 0.01  # a line is lit when more than this share of its pixels is above _DARK
_LEAST_BAR = 0.01  # of the frame's side: thinner bars are left (encoders' edge lines)
_LEAST_PICTURE = 0.3  # of the frame's side: a smaller "picture" is a dark film, not bars
_PAIRED = 0.25  # the two bars of a pair differ by at most this share of the larger one
_FLAT = 120  # grey levels between a picture's 1st and 99th percentiles: a flatter one ...
_DIM = 140  # ... whose 99th percentile is under this (its highlights sit low) ...
_SPREAD = 160  # ... is stretched to this span (ordinary contrast)
_MOST_GAIN = 3.0  # a flatter picture is stretched at most this much (its noise grows too)
_EVERY = 4  # the contrast is read off every 4th pixel each way
_SHORT = 600  # frames: a clip this short with few keyframes is sampled in decoding order


def survey(info: MediaInfo) -> tuple[Matte | None, Stretch | None]:
    """The picture inside any black bars, and the stretch a dim picture needs (None: none),
    from pictures spread over ``info``'s file."""
    if info.is_still or info.frame_count < 2:
        return None, None
    lit_rows, lit_cols, pictures = _sampled(info)
    if len(pictures) < 2:
        return None, None
    matte = _matte(info, lit_rows, lit_cols)
    return matte, _stretch(pictures, matte)


def _matte(info: MediaInfo, lit_rows: np.ndarray, lit_cols: np.ndarray) -> Matte | None:
    """The picture inside black bars that every sampled picture shares (None: the frame is
    all picture)."""
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


def _stretch(pictures: list[np.ndarray], matte: Matte | None) -> Stretch | None:
    """How a dim file's pictures are stretched (see the module's notes): its typical
    picture's black (1st percentile) and span (to the 99th), inside the bars; the pictures
    that are nearly all black (a fade) say nothing of the film's contrast."""
    blacks, spans = [], []
    for grey in pictures:
        if matte is not None:
            e = _EVERY
            grey = grey[
                matte.y // e : (matte.y + matte.height) // e,
                matte.x // e : (matte.x + matte.width) // e,
            ]
        low, high = np.percentile(grey, (1, 99))
        if high > _DARK:
            blacks.append(low)
            spans.append(high - low)
    if len(spans) < 2:
        return None
    span, black = float(np.median(spans)), float(np.median(blacks))
    if span >= _FLAT or black + span >= _DIM:
        return None
    gain = min(_MOST_GAIN, _SPREAD / max(span, 1.0))
    return Stretch(black=int(round(black)), gain=round(gain, 2), span=int(round(span)))


def _sampled(info: MediaInfo) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Which rows and columns are lit in any sampled picture, and the pictures read (every
    ``_EVERY``-th pixel each way): a keyframe near each of ``SAMPLES`` places; in a short
    clip with fewer keyframes than that, pictures spread over it, decoded in order."""
    rows = np.zeros(info.height, bool)
    cols = np.zeros(info.width, bool)
    pictures: list[np.ndarray] = []

    def take(grey: np.ndarray) -> None:
        bright = grey > _DARK
        rows[:] |= bright.mean(axis=1) > _LIT_SHARE
        cols[:] |= bright.mean(axis=0) > _LIT_SHARE
        pictures.append(np.ascontiguousarray(grey[::_EVERY, ::_EVERY]))

    shape = (info.height, info.width)
    try:
        with open_media(info.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            seen: dict[int, np.ndarray] = {}
            for k in range(SAMPLES):
                at = info.start_pts + round((k + 0.5) / SAMPLES * info.duration_s / info.time_base)
                grey = _picture_near(container, stream, at)
                if grey is not None and grey[0] not in seen and grey[1].shape == shape:
                    seen[grey[0]] = grey[1]
        if len(seen) < 3 and info.frame_count <= _SHORT:
            seen = dict(enumerate(_spread_in_order(info)))
        for grey in seen.values():
            if grey.shape == shape:
                take(grey)
    except av.error.FFmpegError as exc:
        logger.debug("pictures of %s not read: %s", info.path, exc)
    return rows, cols, pictures


def _spread_in_order(info: MediaInfo) -> list[np.ndarray]:
    """``SAMPLES`` grey pictures evenly spread over a short clip, decoded from its start."""
    wanted = set(np.linspace(0, info.frame_count - 1, SAMPLES).round().astype(int).tolist())
    out = []
    with open_media(info.path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i in wanted:
                out.append(frame.to_ndarray(format="gray"))
            if i >= max(wanted):
                break
    return out


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
