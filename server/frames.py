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
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from sonicvision.adapters.timecode import nominal_rate
from sonicvision.errors import MediaError

from .options import DEFAULTS

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".dpx", ".bmp", ".webp", ".tga"}
)
# The one analysis picture width (its home is FoleyOptions): shots, analyze and foley all see
# the same frames.
ANALYSIS_WIDTH = DEFAULTS.analysis_width
_VFR_PROBE_PACKETS = 240
# Packets arrive in decode order: the B-frames of the last mini-GOP read may come after it, so
# the highest timestamps of a probe can miss their neighbours. Only the sorted timestamps below
# this many from the top are trusted (libx264's reorder depth is at most 16 frames).
_REORDER_WINDOW = 16
_TAIL_SECONDS = 3  # the stream's real end is read from its last seconds of packets
# At the stream's end this many frames may be undecodable (B-frames whose reference was cut
# off): the frame before is held. More than that inside a used range is a truncated file.
_HELD_AT_END_MAX = 16
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


@dataclass(frozen=True)
class Cadence:
    """Regular repeats in a constant-rate file: which frames of each cycle repeat the one
    before (2:3 pulldown: one or three in five; frame doubling: one in two)."""

    period: int
    repeats: tuple[int, ...]  # positions in the cycle (file frame index modulo the period)
    threshold: float  # mean absolute difference below which a frame is a repeat
    name: str

    @property
    def unique(self) -> int:
        return self.period - len(self.repeats)

    def is_repeat(self, file_frame: int) -> bool:
        return file_frame % self.period in self.repeats

    def to_unique(self, file_frame: int) -> int:
        """The unique picture's index for a file frame (a repeat: the picture it repeats)."""
        cycle, position = divmod(file_frame, self.period)
        shown = sum(1 for k in range(position + 1) if k not in self.repeats)
        return cycle * self.unique + shown - 1

    def to_file(self, unique: int) -> int:
        """The file frame where unique picture ``unique`` first appears."""
        cycle, rank = divmod(unique, self.unique)
        shown = [k for k in range(self.period) if k not in self.repeats]
        return cycle * self.period + shown[rank]


@dataclass(frozen=True)
class MediaInfo:
    """What analysis needs to know about a picture file.

    ``rate_exact`` is the rate its frames are counted at, as an exact fraction (24000/1001 for
    23.976; the unique pictures' rate under a cadence); ``file_rate`` the stream's own nominal
    rate; ``stream_rate`` the rate its timestamps step at. ``frame_count`` runs to the real
    end of the stream (headers can overstate it). A still image has ``is_still``, one frame,
    and rate 0: the timeline's rate applies to it.
    """

    path: Path
    rate: float
    rate_exact: Fraction
    frame_count: int
    width: int  # coded picture size
    height: int
    duration_s: float
    is_vfr: bool
    is_still: bool
    stream_rate: Fraction
    time_base: Fraction
    start_pts: int
    file_rate: Fraction = Fraction(0)
    rotation: int = 0  # degrees counter-clockwise that make the picture upright
    sar: Fraction = Fraction(1)
    interlaced: bool = False
    cadence: Cadence | None = None
    notes: tuple[str, ...] = ()
    slot_rate: Fraction = Fraction(0)  # timestamps -> frame index (0: ``stream_rate``)

    @property
    def display_size(self) -> tuple[int, int]:
        """The picture as a player shows it: pixel aspect applied, rotation honoured."""
        w = max(2, round(self.width * self.sar)) if self.sar > 0 else self.width
        h = self.height
        return (h, w) if self.rotation % 180 else (w, h)


def analysis_size(width: int, height: int, target_width: int | None) -> tuple[int, int]:
    """(w, h) at ``target_width`` keeping the aspect ratio, both even (None: native size).

    Never larger than the picture: upscaling adds no information, only decode time.
    """
    if target_width is None:
        return width, height
    if target_width < 2:
        raise ValueError(f"analysis width must be at least 2 pixels, got {target_width}")
    target_width = min(target_width, max(2, width))
    w = target_width - target_width % 2
    h = max(2, int(round(height * w / width / 2)) * 2)
    return w, h


def picture_size(info: MediaInfo, target_width: int | None) -> tuple[int, int]:
    """The analysis picture's (w, h) for ``info``: its display size at ``target_width``."""
    w, h = info.display_size
    if target_width is None and (w, h) != (info.width, info.height):
        target_width = w  # native resolution, shown the way a player shows it
    return analysis_size(w, h, target_width)


def probe(path: str | Path) -> MediaInfo:
    """Rate, size, frame count and usability of the first video stream (or image) in ``path``.

    Cached per file version: a clip used many times is probed once.
    """
    path = Path(path)
    _check_exists(path)
    stat = path.stat()
    return _probe_cached(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _probe_cached(path: Path, _mtime: int, _size: int) -> MediaInfo:
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"Cannot open the media file: {_reason(exc)}.", path=path) from exc
    try:
        info = _probe_open(path, container)
    except av.error.FFmpegError as exc:
        raise MediaError(f"Cannot read the media file: {_reason(exc)}.", path=path) from exc
    finally:
        container.close()
    if info.is_still or info.is_vfr or info.frame_count < 4 * 5:
        return info
    return _with_cadence(info)


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


class FrameIterator(Iterator[np.ndarray]):
    """Frames decoded one at a time (bounded memory); ``info`` is the probed media, ``notes``
    what was odd in the decoded range (held frames, out-of-order timestamps ...)."""

    def __init__(self, info: MediaInfo, gen: Iterator[np.ndarray], notes: list[str]) -> None:
        self.info = info
        self.notes = notes
        self._gen = gen

    def __next__(self) -> np.ndarray:
        return next(self._gen)

    def close(self) -> None:
        close = getattr(self._gen, "close", None)
        if close is not None:
            close()


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
    _check_range(info, start_frame, count)
    size = picture_size(info, width)
    notes: list[str] = []
    if info.is_still:
        gen = _iter_still(info, count, size)
    else:
        must_end = start_frame + (count if must is None else min(must, count))
        gen = _iter_video(info, start_frame, count, size, must_end, notes)
    return FrameIterator(info, gen, notes)


# --- probing ------------------------------------------------------------------------------


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise MediaError("Media file not found.", path=path)
    if not path.is_file():
        raise MediaError("Media path is not a file.", path=path)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.rstrip(".")


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
    return max(1, math.floor(position + _tolerance(tb, slot_rate)) + 1)


def _tolerance(tb: Fraction, slot_rate: Fraction) -> float:
    """How far past a frame's time its timestamp may sit (rounding to the time base)."""
    return min(0.5, max(1.01 * float(tb * slot_rate), 0.01))


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
            frame = next(_decoded(fresh, first, info, _DecodeLog()), (None, None))[1]
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
        pictures = list(iter_frames(info.path, start, count, 128, info=info))
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


def _check_range(info: MediaInfo, start: int, count: int) -> None:
    if start < 0 or count < 0:
        raise MediaError(
            f"Frame range start {start}, count {count} is invalid: both must be >= 0.",
            path=info.path,
        )
    if info.is_still:
        return
    if start + count > info.frame_count:
        raise MediaError(
            f"Frames {start}..{start + count - 1} are outside the media, which has "
            f"{info.frame_count} frames (0..{info.frame_count - 1}).",
            path=info.path,
        )


class _Scaler:
    """Scales decoded frames to the analysis picture as BGR, with one swscale context for all.

    ``VideoFrame.reformat`` makes a new context for every frame, and setting one up for a
    large downscale costs twice the scaling itself (measured on 1080p: 0.76 against 0.24 ms a
    frame). One thread: the detector works beside the decode and needs the other core.
    Interlaced frames keep one field (every other line) before the vertical scale; a
    rotated picture is scaled in its coded orientation and then turned upright.
    """

    def __init__(self, size: tuple[int, int], rotation: int = 0, interlaced: bool = False) -> None:
        w, h = size
        self.turns = (rotation // 90) % 4
        self.size = (h, w) if self.turns % 2 else (w, h)  # in the coded orientation
        self.interlaced = interlaced
        self._reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        w, h = self.size
        if self.interlaced:
            lines = self._reformat(frame, w, frame.height)[::2]
            picture = cv2.resize(lines, (w, h), interpolation=cv2.INTER_AREA)
        elif (frame.width, frame.height) == (w, h):
            picture = frame.to_ndarray(format="bgr24")
        else:
            picture = self._reformat(frame, w, h)
        if self.turns:
            picture = np.ascontiguousarray(np.rot90(picture, self.turns))
        return picture

    def _reformat(self, frame: av.VideoFrame, w: int, h: int) -> np.ndarray:
        scaled = self._reformatter.reformat(
            frame, width=w, height=h, format="bgr24", interpolation="AREA", threads=1
        )
        return scaled.to_ndarray()


def _iter_still(info: MediaInfo, count: int, size: tuple[int, int]) -> Iterator[np.ndarray]:
    if count == 0:
        return
    with _open(info.path) as container:
        try:
            frame = next(container.decode(video=0))
        except (av.error.FFmpegError, StopIteration) as exc:
            raise MediaError("Cannot decode the image.", path=info.path) from exc
        image = _Scaler(size)(frame)
    image.flags.writeable = False
    for _ in range(count):
        yield image


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path))
    except av.error.FFmpegError as exc:
        raise MediaError(f"Cannot open the media file: {_reason(exc)}.", path=path) from exc


class _DecodeLog:
    """What decoding met that a player would pass over: counted, said once per range."""

    def __init__(self) -> None:
        self.empty = 0
        self.broken = 0
        self.reordered = 0
        self.untimed = 0
        self.held_at_end = 0

    def notes(self, name: str) -> list[str]:
        out = []
        if self.reordered or self.untimed:
            out.append(
                f"{name}: {self.reordered + self.untimed} frames with timestamps out of "
                "order or missing; taken in decoding order"
            )
        if self.broken:
            out.append(f"{name}: {self.broken} packets could not be decoded; skipped")
        if self.held_at_end:
            out.append(
                f"{name}: the last {self.held_at_end} frames of the stream could not be "
                "decoded; the frame before is held"
            )
        return out


class _Overshoot(Exception):
    """The seek landed after the first wanted frame."""


def _iter_video(
    info: MediaInfo,
    start: int,
    count: int,
    size: tuple[int, int],
    must_end: int,
    notes: list[str],
) -> Iterator[np.ndarray]:
    if count == 0:
        return
    log = _DecodeLog()
    scale = _Scaler(size, info.rotation, info.interlaced)
    try:
        if start > 0:
            try:
                with _open(info.path) as container:
                    yield from _slots(info, container, start, count, must_end, scale, log, True)
                    return
            except _Overshoot:
                # The demuxer landed after the start (an inexact index, as in MPEG-TS) or
                # the frames carry no timestamps: only decoding from the top is exact.
                logger.debug("seek to frame %d of %s overshot; from the top", start, info.path)
                log = _DecodeLog()
        with _open(info.path) as container:
            yield from _slots(info, container, start, count, must_end, scale, log, False)
    except av.error.FFmpegError as exc:
        raise MediaError(f"Decoding failed: {_reason(exc)}.", path=info.path) from exc
    finally:
        notes.extend(log.notes(info.path.name))


def _slots(
    info: MediaInfo,
    container: av.container.InputContainer,
    start: int,
    count: int,
    must_end: int,
    scale: _Scaler,
    log: _DecodeLog,
    seek: bool,
) -> Iterator[np.ndarray]:
    """The picture a player shows at each frame time ``start .. start + count - 1``: the
    latest decoded picture whose time is at or before it (under a cadence, the nearest)."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    slot_rate = info.slot_rate or info.stream_rate
    tolerance = _tolerance(info.time_base, slot_rate)
    cadence = info.cadence
    if seek:
        first = start - 1 if cadence is None else cadence.to_file(max(0, start - 1))
        target = info.start_pts + int(first / (slot_rate * info.time_base))
        container.seek(max(target, info.start_pts), stream=stream, backward=True)
    end = start + count
    n = start
    held = _Held(scale)
    for position, frame in _decoded(container, stream, info, log):
        if cadence is not None:
            file_frame = round(position)
            if held.frame is not None and cadence.is_repeat(file_frame):
                difference = cv2.absdiff(scale(frame), held.picture())
                if float(np.mean(difference)) < cadence.threshold:
                    continue  # the picture before, again
            # A picture counts by its place in the cycle (a new one where a repeat belongs
            # shares the place of the one before, and replaces it).
            position = float(cadence.to_unique(file_frame))
        if position > n + tolerance:
            if held.frame is None:
                if seek:
                    raise _Overshoot
                held.take(frame, position)  # wanted frames before the stream's first picture
            while n < end and n + tolerance < position:
                yield held.shown()
                n += 1
        if n >= end:
            return
        held.take(frame, position)
    if held.frame is None:
        if seek:
            raise _Overshoot
        raise MediaError(f"No frame could be decoded from frame {start} on.", path=info.path)
    own_end = math.floor(held.position + tolerance) + 1  # the slots the stream itself fills
    missing = max(0, min(must_end, end) - max(n, own_end))
    if missing > _HELD_AT_END_MAX:
        raise MediaError(
            f"The stream ends at frame {own_end - 1}, before frame {must_end - 1} of the "
            f"range asked for (the header promised {info.frame_count} frames; truncated?).",
            path=info.path,
        )
    log.held_at_end = max(log.held_at_end, end - max(n, own_end))
    while n < end:
        yield held.shown()
        n += 1


class _Held:
    """The picture on screen: a decoded frame, scaled once however many frames show it."""

    def __init__(self, scale: _Scaler) -> None:
        self.scale = scale
        self.frame: av.VideoFrame | None = None
        self.position = 0.0
        self._picture: np.ndarray | None = None
        self._given = False

    def take(self, frame: av.VideoFrame, position: float) -> None:
        self.frame, self.position, self._picture, self._given = frame, position, None, False

    def picture(self) -> np.ndarray:
        if self._picture is None:
            self._picture = self.scale(self.frame)
        return self._picture

    def shown(self) -> np.ndarray:
        """The picture for the next frame time; a copy when it was handed out before."""
        picture = self.picture()
        if self._given:
            return picture.copy()
        self._given = True
        return picture


def _decoded(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    info: MediaInfo,
    log: _DecodeLog,
) -> Iterator[tuple[float, av.VideoFrame]]:
    """(position in frames from the first picture, frame) in presentation order.

    Zero-size packets (a dropped frame in Ogg or AVI) are not sent to the decoder, which
    takes an empty packet as the end of the stream; a packet that will not decode is
    skipped; a timestamp that goes backwards or is missing takes the next place in order.
    """
    slot_rate = float(info.slot_rate or info.stream_rate)
    tick = float(info.time_base)
    last: int | None = None

    def decode(packet: av.Packet | None) -> list[av.VideoFrame]:
        try:
            return stream.decode(packet)
        except (av.error.InvalidDataError, av.error.ArgumentError) as exc:
            log.broken += 1
            logger.debug("packet of %s skipped: %s", info.path, exc)
            return []

    def placed(frame: av.VideoFrame) -> tuple[float, av.VideoFrame]:
        nonlocal last
        pts = frame.pts
        if pts is None:
            log.untimed += 1
            pts = info.start_pts if last is None else last + 1
        elif last is not None and pts <= last:
            log.reordered += 1
            pts = last + 1
        last = pts
        return (pts - info.start_pts) * tick * slot_rate, frame

    for packet in container.demux(stream):
        if not packet.size:
            if packet.pts is not None:
                log.empty += 1
            continue
        for frame in decode(packet):
            yield placed(frame)
    for frame in decode(None):
        yield placed(frame)
