"""Probing: rate, size, frame count and oddities of a picture file, from its timestamps.

The constant-rate probe allows for the B-frame reorder window; the rate is the timestamps'
step (a container's average can be off); variable rate snaps to the editors' nearest rate;
regular repeats (2:3 pulldown, frame doubling) are found in frames from the middle.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from sonicvision.adapters.timecode import nominal_rate
from sonicvision.errors import MediaError

from .decode import DecodeLog, decoded, frames_of
from .info import IMAGE_SUFFIXES, Cadence, MediaInfo, check_exists, frame_tolerance, reason
from .matte import survey

logger = logging.getLogger(__name__)

_VFR_PROBE_PACKETS = 240
# Packets arrive in decode order: the B-frames of the last mini-GOP read may come after it, so
# the highest timestamps of a probe can miss their neighbours. Only the sorted timestamps below
# this many from the top are trusted (libx264's reorder depth is at most 16 frames).
_REORDER_WINDOW = 16
_TAIL_SECONDS = 3  # the stream's real end is read from its last seconds of packets
_CADENCE_SAMPLE = 40  # frames decoded from the middle of a file to look for repeats
_STANDARD_RATES = tuple(
    Fraction(r)
    for r in (
        Fraction(24000, 1001),
        24,
        25,
        Fraction(30000, 1001),
        30,
        48,
        50,
        Fraction(60000, 1001),
        60,
        120,
    )
)


def probe(path: str | Path) -> MediaInfo:
    """Rate, size, frame count and usability of the first video stream (or image) in ``path``.

    Cached per file version: a clip used many times is probed once.
    """
    path = Path(path)
    check_exists(path)
    stat = path.stat()
    return _probe_cached(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _probe_cached(path: Path, _mtime: int, _size: int) -> MediaInfo:
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"Cannot open the media file: {reason(exc)}.", path=path) from exc
    try:
        info = _probe_open(path, container)
    except av.error.FFmpegError as exc:
        raise MediaError(f"Cannot read the media file: {reason(exc)}.", path=path) from exc
    finally:
        container.close()
    if info.is_still:
        return info
    info = _with_look(info)
    if info.is_vfr or info.frame_count < 4 * 5:
        return info
    return _with_cadence(info)


def _with_look(info: MediaInfo) -> MediaInfo:
    """The picture inside black bars and the stretch a dim one needs (matte.py says how)."""
    matte, stretch = survey(info)
    notes = list(info.notes)
    if matte is not None:
        coded = (info.width, info.height)
        notes.append(f"{info.path.name}: {matte.describe(coded)}; read inside the bars")
    if stretch is not None:
        notes.append(
            f"{info.path.name}: dim (its pictures span grey levels {stretch.black}-"
            f"{stretch.black + stretch.span}); analysed stretched {stretch.gain:g}x"
        )
    if matte is None and stretch is None:
        return info
    return dataclasses.replace(info, matte=matte, stretch=stretch, notes=tuple(notes))


def _probe_open(path: Path, container: av.container.InputContainer) -> MediaInfo:
    if not container.streams.video:
        raise MediaError("The file has no video stream.", path=path)
    stream = container.streams.video[0]
    width = stream.codec_context.width
    height = stream.codec_context.height
    if not width or not height:
        raise MediaError("The video stream has no picture size (corrupt header?).", path=path)
    time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000)
    sar = Fraction(stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio or 1)

    is_image = path.suffix.lower() in IMAGE_SUFFIXES or container.format.name.endswith("_pipe")
    if is_image:
        return _still_info(path, width, height, time_base)

    pts, untimed, empty, at_end = [], 0, 0, True
    for packet in container.demux(stream):
        if packet.size:
            if packet.pts is None:
                untimed += 1
            else:
                pts.append(packet.pts)
        elif packet.pts is not None:
            empty += 1
        if len(pts) + untimed >= _VFR_PROBE_PACKETS:
            at_end = False
            break
    if untimed:
        raise MediaError(
            "The video has no timestamps (a raw elementary stream?), so frames cannot be "
            "located by time. Wrap it in a container first, e.g. "
            "'ffmpeg -r RATE -i IN -c copy OUT.mp4'.",
            path=path,
        )
    if not pts:
        raise MediaError("The video stream holds no frames.", path=path)
    pts.sort()
    start_pts = pts[0]
    if not at_end:  # not the stream's end: its reorder window may be open
        pts = pts[: len(pts) - _REORDER_WINDOW]
    if len(pts) == 1:
        return _still_info(path, width, height, time_base, start_pts=pts[0])

    stream_rate = _stream_rate(stream, pts, time_base)
    kind = _timing(pts, time_base, stream_rate)
    is_vfr = kind != "constant"
    rate_exact = nominal_rate(stream_rate)
    notes = []
    if kind == "variable":
        rate_exact = _standard_rate(stream_rate)
        notes.append(
            f"{path.name}: variable frame rate (about {float(stream_rate):.3f} fps); read at "
            f"{_fps(rate_exact)} fps, each frame the picture a player shows at its time"
        )
    elif kind == "gaps" or empty:
        notes.append(
            f"{path.name}: dropped frames (gaps in the timestamps"
            + (f", {empty} empty packets" if empty else "")
            + "); the picture before is held, as a player holds it"
        )
    # Frames are placed by time at the nominal rate where the rate varies, else by the
    # timestamps' own step (OpenCV's 2997/125 for 23.976 stays exact over any length).
    slot_rate = rate_exact if kind == "variable" else stream_rate
    last_pts = _last_pts(container, stream, time_base) or pts[-1]
    frame_count = _count_to(last_pts, start_pts, time_base, slot_rate)
    header = int(stream.frames or 0)
    if stream.duration and kind != "variable" and "mp4" in container.format.name:
        # Packets past the stated duration (B-frames of a stream cut without re-encoding)
        # are not shown by players either.
        frame_count = min(frame_count, max(1, round(stream.duration * time_base * slot_rate)))
    if header and kind == "constant" and header > frame_count:
        notes.append(
            f"{path.name}: the header says {header} frames, the stream holds {frame_count}"
        )
    info = MediaInfo(
        path=path,
        rate=float(rate_exact),
        rate_exact=rate_exact,
        frame_count=frame_count,
        width=width,
        height=height,
        duration_s=float(frame_count / rate_exact),
        is_vfr=is_vfr,
        is_still=frame_count == 1,
        stream_rate=stream_rate,
        time_base=time_base,
        start_pts=start_pts,
        file_rate=rate_exact,
        sar=sar if sar > 0 else Fraction(1),
        notes=tuple(notes),
        slot_rate=slot_rate,
    )
    return _with_geometry(info)


def _fps(rate: Fraction) -> str:
    return f"{float(rate):.3f}".rstrip("0").rstrip(".")


def _count_to(last_pts: int, start_pts: int, tb: Fraction, slot_rate: Fraction) -> int:
    position = float((last_pts - start_pts) * tb * slot_rate)
    return max(1, math.floor(position + frame_tolerance(tb, slot_rate)) + 1)


def _last_pts(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, tb: Fraction
) -> int | None:
    """The highest timestamp of a real (non-empty) packet: where the stream really ends."""
    end = None
    if stream.duration:
        end = (stream.start_time or 0) + stream.duration
    elif container.duration:
        end = int(Fraction(container.duration, 1_000_000) / tb)
    try:
        if end is not None:
            target = max(0, end - int(_TAIL_SECONDS / tb))
            container.seek(target, stream=stream, backward=True, any_frame=False)
        else:
            container.seek(0)
        last = None
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None and not packet.is_discard:
                last = packet.pts if last is None else max(last, packet.pts)
        return last
    except av.error.FFmpegError as exc:
        logger.debug("tail of %s not read: %s", container.name, exc)
        return None


def _with_geometry(info: MediaInfo) -> MediaInfo:
    """Rotation (display matrix) and interlacing, read off the first decoded picture."""
    try:
        with av.open(str(info.path)) as fresh:  # from the top: a seek in MPEG-TS can overshoot
            first = fresh.streams.video[0]
            frame = next(decoded(fresh, first, info, DecodeLog()), (None, None))[1]
    except av.error.FFmpegError:
        frame = None
    if frame is None:
        return info
    rotation = int(round((getattr(frame, "rotation", 0) or 0) / 90)) * 90 % 360
    interlaced = bool(getattr(frame, "interlaced_frame", False))
    notes = list(info.notes)
    name = info.path.name
    if rotation:
        notes.append(f"{name}: rotated {rotation} degrees by its display matrix; read upright")
    if info.sar != 1:
        notes.append(
            f"{name}: non-square pixels ({info.sar.numerator}:{info.sar.denominator}); "
            "read at the shape a player shows"
        )
    if interlaced:
        notes.append(f"{name}: interlaced; each frame read from one field (a simple deinterlace)")
    return dataclasses.replace(info, rotation=rotation, interlaced=interlaced, notes=tuple(notes))


def _still_info(
    path: Path, width: int, height: int, time_base: Fraction, start_pts: int = 0
) -> MediaInfo:
    return MediaInfo(
        path=path,
        rate=0.0,
        rate_exact=Fraction(0),
        frame_count=1,
        width=width,
        height=height,
        duration_s=0.0,
        is_vfr=False,
        is_still=True,
        stream_rate=Fraction(0),
        time_base=time_base,
        start_pts=start_pts,
    )


def _stream_rate(stream: av.video.stream.VideoStream, pts: list[int], tb: Fraction) -> Fraction:
    """The rate the timestamps step at; a rate the container states only where it agrees.

    Timestamps are the truth: a container's average rate can be off (30.12 for a file whose
    every step is 1/30 s), but its stated rate keeps an exact form (30000/1001) where it fits.
    """
    deltas = np.diff(pts)
    steps, counts = np.unique(deltas, return_counts=True)
    step = Fraction(int(steps[np.argmax(counts)])) * tb
    seconds = deltas * float(tb)
    for rate in (stream.guessed_rate, stream.base_rate, stream.average_rate):
        if not rate:
            continue
        period = 1 / float(rate)
        # Every step a whole number of frames (dropped frames leave gaps of two or more).
        frames = np.maximum(1, np.round(seconds / period))
        if np.all(np.abs(seconds - frames * period) <= max(float(tb) * 1.01, period / 200)):
            return Fraction(rate)
    return 1 / step


def _timing(pts: list[int], tb: Fraction, rate: Fraction) -> str:
    """'constant', 'gaps' (whole frames missing) or 'variable', from the first timestamps."""
    period = 1 / float(rate)
    tolerance = max(float(tb) * 1.01, period / 200)
    seconds = np.diff(pts) * float(tb)
    if np.all(np.abs(seconds - period) <= tolerance):
        return "constant"
    frames = np.maximum(1, np.round(seconds / period))
    if np.all(np.abs(seconds - frames * period) <= tolerance):
        return "gaps"
    return "variable"


def _standard_rate(rate: Fraction) -> Fraction:
    """The editors' rate nearest a phone's measured one (30.01 -> 30), within 1 %."""
    best = min(_STANDARD_RATES, key=lambda r: abs(r - rate) / r)
    return best if abs(best - rate) / best < Fraction(1, 100) else nominal_rate(rate)


# --- cadence: repeated pictures -----------------------------------------------------------


def _with_cadence(info: MediaInfo) -> MediaInfo:
    """Look for regular repeats in frames from the middle of the file; count the unique
    pictures where there are (2:3 pulldown, frame doubling)."""
    start = max(0, info.frame_count // 2 - _CADENCE_SAMPLE // 2)
    count = min(_CADENCE_SAMPLE, info.frame_count - start)
    try:
        pictures = list(frames_of(info, start, count, 128))
    except MediaError as exc:
        logger.debug("no cadence check for %s: %s", info.path, exc)
        return info
    cadence = find_cadence(pictures, start)
    if cadence is None:
        return info
    rate = nominal_rate(info.file_rate * cadence.unique / cadence.period)
    frame_count = cadence.to_unique(info.frame_count - 1) + 1
    note = (
        f"{info.path.name}: {cadence.name} ({cadence.unique} pictures in every "
        f"{cadence.period} frames); read at {_fps(rate)} fps, the unique pictures"
    )
    return dataclasses.replace(
        info,
        rate=float(rate),
        rate_exact=rate,
        frame_count=frame_count,
        duration_s=float(frame_count / rate),
        cadence=cadence,
        notes=(*info.notes, note),
    )


def find_cadence(pictures: list[np.ndarray], first_index: int = 0) -> Cadence | None:
    """The repeat pattern of consecutive frames (file indices from ``first_index``), if one
    holds in every cycle: a period of 2 or 5 frames, some positions always repeats."""
    if len(pictures) < 16:
        return None
    diffs = np.array(
        [
            float(np.mean(cv2.absdiff(a, b)))
            for a, b in zip(pictures[:-1], pictures[1:], strict=True)
        ]
    )
    moving = np.percentile(diffs, 75)
    if moving < 1.0:
        return None  # nothing moves: repeats cannot be told from stillness
    repeat = diffs < 0.2 * moving
    if not repeat.any() or repeat.all():
        return None
    index = np.arange(first_index + 1, first_index + len(pictures))
    for period in (2, 5):
        if len(diffs) < 3 * period:
            continue
        positions = index % period
        shares = [float(repeat[positions == k].mean()) for k in range(period)]
        if any(0.2 < s < 0.8 for s in shares):
            continue
        repeats = tuple(k for k, s in enumerate(shares) if s >= 0.8)
        if not repeats or len(repeats) == period:
            continue
        new_level = float(np.median(diffs[~repeat]))
        threshold = min(0.5 * new_level, 2 * float(diffs[repeat].max()) + 0.5)
        unique = period - len(repeats)
        name = {
            (2, 1): "frame doubling",
            (5, 4): "2:3 pulldown",
            (5, 2): "2:3 repeated frames",
        }.get((period, unique), "repeated frames")
        return Cadence(period, repeats, threshold, name)
    return None


# --- decoding -----------------------------------------------------------------------------
