"""Decoding: the picture a player shows at each frame time of a range, scaled to the analysis
size. Frames are found by their timestamps; dropped, empty and undecodable ones hold the
picture before, as a player holds it."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from sonicvision.errors import MediaError

from .info import Matte, MediaInfo, Stretch, frame_tolerance, open_media, picture_size, reason

logger = logging.getLogger(__name__)

# At the stream's end this many frames may be undecodable (B-frames whose reference was cut
# off): the frame before is held. More than that inside a used range is a truncated file.
_HELD_AT_END_MAX = 16


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


def frames_of(
    info: MediaInfo,
    start_frame: int,
    count: int,
    width: int | None,
    must: int | None = None,
) -> FrameIterator:
    """Frames ``start_frame .. start_frame + count - 1`` of probed media, one at a time; the
    range is checked here, before the first frame is decoded."""
    check_range(info, start_frame, count)
    size = picture_size(info, width)
    notes: list[str] = []
    if info.is_still:
        gen = _iter_still(info, count, size)
    else:
        must_end = start_frame + (count if must is None else min(must, count))
        gen = _iter_video(info, start_frame, count, size, must_end, notes)
    return FrameIterator(info, gen, notes)


def check_range(info: MediaInfo, start: int, count: int) -> None:
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
    rotated picture is scaled in its coded orientation and then turned upright; a picture in
    black bars (``MediaInfo.matte``) is cut out of them, so analysis sees the film's picture
    at the analysis width; a dim one is stretched (``MediaInfo.stretch``).
    """

    def __init__(
        self,
        size: tuple[int, int],
        rotation: int = 0,
        interlaced: bool = False,
        matte: Matte | None = None,
        coded: tuple[int, int] = (0, 0),
        stretch: Stretch | None = None,
    ) -> None:
        w, h = size
        self.turns = (rotation // 90) % 4
        self.size = (h, w) if self.turns % 2 else (w, h)  # in the coded orientation
        self.interlaced = interlaced
        self._reformatter = VideoReformatter()
        self._table = None if stretch is None else stretch.table()
        # Inside black bars: the whole frame is scaled so that its picture comes out at
        # ``size``, and the picture is cut out of it (cheaper than a full-size copy to crop).
        self.whole, self.at = self.size, (0, 0)
        if matte is not None:
            w, h = self.size
            sx, sy = w / matte.width, h / matte.height
            fw, fh = max(w, round(coded[0] * sx)), max(h, round(coded[1] * sy))
            self.whole = (fw, fh)
            self.at = (min(round(matte.x * sx), fw - w), min(round(matte.y * sy), fh - h))

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        w, h = self.whole
        if self.interlaced:
            lines = self._reformat(frame, w, frame.height)[::2]
            picture = cv2.resize(lines, (w, h), interpolation=cv2.INTER_AREA)
        elif (frame.width, frame.height) == (w, h):
            picture = frame.to_ndarray(format="bgr24")
        else:
            picture = self._reformat(frame, w, h)
        if self.at != (0, 0) or self.whole != self.size:
            (x, y), (pw, ph) = self.at, self.size
            picture = np.ascontiguousarray(picture[y : y + ph, x : x + pw])
        if self._table is not None:
            picture = cv2.LUT(picture, self._table)
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
    with open_media(info.path) as container:
        try:
            frame = next(container.decode(video=0))
        except (av.error.FFmpegError, StopIteration) as exc:
            raise MediaError("Cannot decode the image.", path=info.path) from exc
        image = _Scaler(size)(frame)
    image.flags.writeable = False
    for _ in range(count):
        yield image


class DecodeLog:
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
    log = DecodeLog()
    coded = (info.width, info.height)
    scale = _Scaler(size, info.rotation, info.interlaced, info.matte, coded, info.stretch)
    try:
        if start > 0:
            try:
                with open_media(info.path) as container:
                    yield from _slots(info, container, start, count, must_end, scale, log, True)
                    return
            except _Overshoot:
                # The demuxer landed after the start (an inexact index, as in MPEG-TS) or
                # the frames carry no timestamps: only decoding from the top is exact.
                logger.debug("seek to frame %d of %s overshot; from the top", start, info.path)
                log = DecodeLog()
        with open_media(info.path) as container:
            yield from _slots(info, container, start, count, must_end, scale, log, False)
    except av.error.FFmpegError as exc:
        raise MediaError(f"Decoding failed: {reason(exc)}.", path=info.path) from exc
    finally:
        notes.extend(log.notes(info.path.name))


def _slots(
    info: MediaInfo,
    container: av.container.InputContainer,
    start: int,
    count: int,
    must_end: int,
    scale: _Scaler,
    log: DecodeLog,
    seek: bool,
) -> Iterator[np.ndarray]:
    """The picture a player shows at each frame time ``start .. start + count - 1``: the
    latest decoded picture whose time is at or before it (under a cadence, the nearest)."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    slot_rate = info.slot_rate or info.stream_rate
    tolerance = frame_tolerance(info.time_base, slot_rate)
    cadence = info.cadence
    if seek:
        first = start - 1 if cadence is None else cadence.to_file(max(0, start - 1))
        target = info.start_pts + int(first / (slot_rate * info.time_base))
        container.seek(max(target, info.start_pts), stream=stream, backward=True)
    end = start + count
    n = start
    held = _Held(scale)
    for position, frame in decoded(container, stream, info, log):
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


def decoded(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    info: MediaInfo,
    log: DecodeLog,
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
