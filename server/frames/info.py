"""What analysis knows about a picture file (``MediaInfo``, a ``Cadence`` of repeats) and the
analysis picture's size: the facts the prober finds and the decoder works from."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from sonicvision.errors import MediaError

from ..options import DEFAULTS

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".dpx", ".bmp", ".webp", ".tga"}
)
# The one analysis picture width (its home is FoleyOptions): shots, analyze and foley all see
# the same frames.
ANALYSIS_WIDTH = DEFAULTS.analysis_width


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
class Matte:
    """The active picture, in coded pixels: x, y of its top left corner, its width and height
    (all even: 4:2:0 chroma is shared by pairs of lines and columns)."""

    x: int
    y: int
    width: int
    height: int

    def describe(self, coded: tuple[int, int]) -> str:
        w, h = coded
        kind = (
            "windowboxed"
            if self.width < w and self.height < h
            else "letterboxed"
            if self.height < h
            else "pillarboxed"
        )
        return f"{kind} (picture {self.width}x{self.height} of {w}x{h})"


@dataclass(frozen=True)
class Stretch:
    """A dim picture's grey levels stretched about its ``black`` by ``gain`` for analysis
    (``span``: the levels its typical picture spans, 1st to 99th percentile)."""

    black: int
    gain: float
    span: int

    def table(self) -> np.ndarray:
        """The 8-bit lookup table (cv2.LUT) that applies it."""
        levels = self.black + (np.arange(256, dtype=np.float32) - self.black) * self.gain
        return np.clip(np.round(levels), 0, 255).astype(np.uint8)


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
    matte: Matte | None = None  # the picture inside black bars (None: the whole frame)
    stretch: Stretch | None = None  # a dim picture's contrast stretch (None: read as it is)

    @property
    def display_size(self) -> tuple[int, int]:
        """The picture as a player shows it: pixel aspect applied, rotation honoured."""
        w = max(2, round(self.width * self.sar)) if self.sar > 0 else self.width
        h = self.height
        return (h, w) if self.rotation % 180 else (w, h)

    @property
    def picture_display_size(self) -> tuple[int, int]:
        """The picture inside the bars (the whole frame without any), as a player shows it."""
        if self.matte is None:
            return self.display_size
        w, h = self.matte.width, self.matte.height
        w = max(2, round(w * self.sar)) if self.sar > 0 else w
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
    """The analysis picture's (w, h) for ``info``: its display size at ``target_width``, the
    picture inside any black bars."""
    w, h = info.picture_display_size
    if target_width is None and (w, h) != (info.width, info.height):
        target_width = w  # native resolution, shown the way a player shows it
    return analysis_size(w, h, target_width)


def check_exists(path: Path) -> None:
    if not path.exists():
        raise MediaError("Media file not found.", path=path)
    if not path.is_file():
        raise MediaError("Media path is not a file.", path=path)


def reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.rstrip(".")


def frame_tolerance(tb: Fraction, slot_rate: Fraction) -> float:
    """How far past a frame's time its timestamp may sit (rounding to the time base)."""
    return min(0.5, max(1.01 * float(tb * slot_rate), 0.01))


def open_media(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path))
    except av.error.FFmpegError as exc:
        raise MediaError(f"Cannot open the media file: {reason(exc)}.", path=path) from exc
