"""Synthetic videos whose sound events are known to the frame, for tests and the demo.

A scene is declared as data (:class:`SceneSpec` with :class:`ObjectSpec` s) and rendered with
OpenCV (``mp4v`` in ``.mp4``); :func:`render_scene` returns the :class:`GroundTruth`: which
frames an impact lands on and which frames a slide or a pass-by spans. Distractions that are
not sounds can be added: a smooth camera pan, film grain, hard cuts to another colour scheme.

Object kinds and the meaning of ``start`` / ``stop`` (frame indices):

========  ==========================================  ============================================
kind      motion                                      ground truth
========  ==========================================  ============================================
``fall``  released at rest at ``start - 1``, falls     impact at ``stop`` (first frame on the
          under gravity; optional single bounce        floor); with ``bounce`` b a second impact
                                                      at ``stop + b``
``hit``   swings from rest at ``start - 1`` with       impact at ``stop`` (first frame touching
          constant acceleration into a still block     the block; both then rest)
``slide`` slides along the floor, easing in and out    continuous ``[start, stop)``: the frames
                                                      whose picture differs from the one before
``pass``  crosses the frame at constant speed          continuous ``[start, stop)``: the frames
                                                      where it is in view
========  ==========================================  ============================================

Positions are fractions of the frame, so one spec renders alike at any size. An impact's
ground-truth span is ``impact_span_s`` long.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from sonicvision.adapters.timecode import nominal_rate
from sonicvision.errors import RenderError
from sonicvision.server.frames import probe

logger = logging.getLogger(__name__)

KINDS = ("fall", "hit", "slide", "pass")
BACKGROUNDS = ("gradient", "texture")
IMPACT_SPAN_S = 0.2
FLOOR_Y = 0.82  # floor line, as a fraction of the height
CODE_BITS = 12

_LABELS = {"fall": "impact", "hit": "impact", "slide": "slide", "pass": "pass-by"}
# (background A, background B, floor, object colours), BGR. Objects differ from the
# background in brightness, not only in hue: analysis (and most cameras' detail) is luma.
_PALETTES = (
    (
        (90, 110, 130),
        (150, 170, 190),
        (40, 70, 100),
        ((20, 20, 170), (255, 245, 220), (10, 60, 10)),
    ),
    ((120, 70, 50), (190, 140, 110), (60, 60, 60), ((60, 230, 250), (70, 20, 70), (250, 250, 250))),
    ((50, 110, 50), (120, 190, 140), (90, 50, 30), ((20, 20, 20), (200, 220, 255), (150, 40, 10))),
)


@dataclass(frozen=True)
class ObjectSpec:
    """One moving thing and the sound event it makes; see the module table for the kinds.

    ``x``: horizontal position on screen at frame ``start`` (fraction of the width): where a
    ``fall`` drops, the struck block of a ``hit``, where a ``slide`` starts (not for ``pass``).
    Objects other than ``pass`` belong to the set, so a camera pan moves them on screen.
    ``distance``: drop height (fraction of the height) for ``fall``; travel (fraction of the
    width) for ``hit`` and ``slide``. ``size``: fraction of the height. ``direction``: +1
    moves right, -1 left. ``lane``: height of a ``pass`` (fraction of the height, from the
    top), above where things hang before they fall.
    """

    kind: str
    start: int
    stop: int
    x: float = 0.5
    distance: float = 0.5
    size: float = 0.14
    bounce: int = 0
    direction: int = 1
    lane: float = 0.16


@dataclass(frozen=True)
class SceneSpec:
    """A synthetic shot: size, rate, length, background, distractions and objects."""

    width: int = 320
    height: int = 180
    rate: float | Fraction = 25.0
    frames: int = 75
    background: str = "texture"
    camera_pan_px_per_frame: float = 0.0
    objects: list[ObjectSpec] = field(default_factory=list)
    cut_at: list[int] = field(default_factory=list)
    grain: float = 0.0  # std of per-frame noise, in 8-bit levels
    stamp_index: bool = False  # draw the frame index as a binary code (see read_frame_code)
    seed: int = 0

    @classmethod
    def static(cls, **kwargs: object) -> SceneSpec:
        """A shot where nothing moves: no objects, no pan (grain may still be added)."""
        return cls(objects=[], camera_pan_px_per_frame=0.0, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TruthEvent:
    """A sound event the scene contains; ``end_frame`` is exclusive."""

    kind: str
    onset_frame: int
    end_frame: int
    continuous: bool
    label: str


@dataclass
class GroundTruth:
    """What :func:`render_scene` wrote and where its sound events are."""

    path: Path
    rate: float
    frames: int
    events: list[TruthEvent]
    cuts: list[int]

    def activity(self) -> np.ndarray:
        """Per-frame activity (bool, one per frame), the union of the event spans."""
        act = np.zeros(self.frames, dtype=bool)
        for ev in self.events:
            act[ev.onset_frame : ev.end_frame] = True
        return act

    @property
    def impacts(self) -> list[TruthEvent]:
        return [e for e in self.events if not e.continuous]

    @property
    def continuous(self) -> list[TruthEvent]:
        return [e for e in self.events if e.continuous]


def render_scene(
    spec: SceneSpec, path: str | Path, impact_span_s: float = IMPACT_SPAN_S
) -> GroundTruth:
    """Write the scene to ``path`` (.mp4, mp4v) and return its ground truth.

    The file is written beside ``path`` and moved into place when complete, then probed: a
    rate or frame count that does not read back as asked raises :class:`RenderError`.
    """
    path = Path(path)
    _validate(spec)
    rate = float(spec.rate)
    span = max(1, round(impact_span_s * rate))
    events = _ground_truth(spec, span)
    world = _World(spec)

    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    writer = cv2.VideoWriter(
        str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), rate, (spec.width, spec.height)
    )
    if not writer.isOpened():
        raise RenderError("OpenCV could not open an mp4v writer.", path=path)
    try:
        for t in range(spec.frames):
            writer.write(world.frame(t))
    finally:
        writer.release()
    os.replace(tmp, path)

    info = probe(path)
    want = nominal_rate(Fraction(spec.rate).limit_denominator(1001))
    if spec.frames > 1 and (info.rate_exact != want or info.frame_count != spec.frames):
        raise RenderError(
            f"The scene reads back at {info.rate_exact} fps with {info.frame_count} frames; "
            f"asked for {want} fps and {spec.frames} frames.",
            path=path,
        )
    return GroundTruth(path, float(want), spec.frames, events, sorted(spec.cut_at))


def render_frames(spec: SceneSpec) -> np.ndarray:
    """The scene's pictures as (T, H, W, 3) uint8 BGR, without encoding (no compression)."""
    _validate(spec)
    world = _World(spec)
    return (
        np.stack([world.frame(t) for t in range(spec.frames)])
        if spec.frames
        else np.zeros((0, spec.height, spec.width, 3), np.uint8)
    )


def draw_frame_code(image: np.ndarray, index: int) -> None:
    """Draw ``index`` into the top band of ``image`` as big black/white bit cells (in place)."""
    h, w = image.shape[:2]
    cell_w, cell_h = w // (CODE_BITS + 2), h // 6
    for bit in range(CODE_BITS):
        x0 = (bit + 1) * cell_w
        value = 255 if (index >> bit) & 1 else 0
        image[:cell_h, x0 : x0 + cell_w] = value


def read_frame_code(image: np.ndarray) -> int:
    """The index :func:`draw_frame_code` drew, read from the cell centres (any image size)."""
    h, w = image.shape[:2]
    cell_w, cell_h = w / (CODE_BITS + 2), h / 6
    index = 0
    for bit in range(CODE_BITS):
        cx = (bit + 1.5) * cell_w
        patch = image[
            int(cell_h * 0.25) : int(cell_h * 0.75), int(cx - cell_w / 4) : int(cx + cell_w / 4)
        ]
        if patch.mean() > 127:
            index |= 1 << bit
    return index


# --- ground truth and validation ----------------------------------------------------------


def _validate(spec: SceneSpec) -> None:
    if spec.width < 16 or spec.height < 16 or spec.width % 2 or spec.height % 2:
        raise ValueError(
            f"scene size must be even and at least 16x16, got {spec.width}x{spec.height}"
        )
    if spec.frames < 0:
        raise ValueError(f"frames must be >= 0, got {spec.frames}")
    if not float(spec.rate) > 0:
        raise ValueError(f"rate must be positive, got {spec.rate}")
    if spec.background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {spec.background!r}")
    for c in spec.cut_at:
        if not 0 < c < spec.frames:
            raise ValueError(f"cut at frame {c} is outside 1..{spec.frames - 1}")
    for obj in spec.objects:
        if obj.kind not in KINDS:
            raise ValueError(f"object kind must be one of {KINDS}, got {obj.kind!r}")
        if not 1 <= obj.start < obj.stop:
            raise ValueError(f"{obj.kind}: need 1 <= start < stop, got {obj.start}, {obj.stop}")
        last = obj.stop + obj.bounce
        if last >= spec.frames and obj.kind in ("fall", "hit") or obj.stop > spec.frames:
            raise ValueError(f"{obj.kind}: event at frame {last} is beyond the scene")
        if obj.bounce and not (obj.kind == "fall" and obj.bounce < 2 * (obj.stop - obj.start + 1)):
            raise ValueError("bounce is for 'fall' only and must be shorter than twice the drop")
        if obj.direction not in (-1, 1):
            raise ValueError(f"direction must be +1 or -1, got {obj.direction}")
        if not (0 < obj.size < 1 and 0 <= obj.lane <= 1 and obj.distance >= 0):
            raise ValueError(f"{obj.kind}: size in (0, 1), lane in [0, 1], distance >= 0")


def _ground_truth(spec: SceneSpec, span: int) -> list[TruthEvent]:
    events = []
    for obj in spec.objects:
        label = _LABELS[obj.kind]
        if obj.kind in ("fall", "hit"):
            onsets = [obj.stop] + ([obj.stop + obj.bounce] if obj.bounce else [])
            for onset in onsets:
                end = min(onset + span, spec.frames)
                events.append(TruthEvent(obj.kind, onset, end, False, label))
        else:
            events.append(TruthEvent(obj.kind, obj.start, obj.stop, True, label))
    events.sort(key=lambda e: (e.onset_frame, e.end_frame))
    return events


# --- drawing ------------------------------------------------------------------------------


class _World:
    """Backgrounds wider than the frame (for the pan) and textured objects placed in them."""

    def __init__(self, spec: SceneSpec) -> None:
        self.spec = spec
        w, h = spec.width, spec.height
        self.pan = spec.camera_pan_px_per_frame
        travel = abs(self.pan) * max(spec.frames - 1, 0)
        self.world_w = w + int(math.ceil(travel)) + 4
        self.cam0 = travel if self.pan < 0 else 0.0
        self.floor = FLOOR_Y * h
        shots = len(spec.cut_at) + 1
        self.backgrounds = [self._background(i) for i in range(shots)]
        self.rng = np.random.default_rng(spec.seed + 1)
        self.sprites: dict[tuple[int, int, str], _Sprite] = {}

    def _shot(self, t: int) -> int:
        return sum(1 for c in self.spec.cut_at if t >= c)

    def _noise(
        self, rng: np.random.Generator, h: int, w: int, cells: tuple[int, ...]
    ) -> np.ndarray:
        """Smooth noise in [0, 1]; cell sizes scale with the frame height."""
        mix = np.zeros((h, w), np.float32)
        for cell in cells:
            px = max(2, int(round(cell * self.spec.height / 180)))
            grid = rng.random((h // px + 3, w // px + 3)).astype(np.float32)
            up = cv2.resize(grid, (grid.shape[1] * px, grid.shape[0] * px), cv2.INTER_CUBIC)
            mix += math.sqrt(cell) * up[:h, :w]
        return (mix - mix.min()) / max(float(np.ptp(mix)), 1e-6)

    def _background(self, shot: int) -> np.ndarray:
        spec = self.spec
        h, w = spec.height, self.world_w
        a, b, floor_col, _ = _PALETTES[shot % len(_PALETTES)]
        if spec.background == "texture":
            rng = np.random.default_rng(spec.seed * 7919 + shot)
            mix = self._noise(rng, h, w, (3, 6, 12, 24))
        else:
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            mix = 0.6 * xx / max(w - 1, 1) + 0.4 * yy / max(h - 1, 1)
        mix = mix[..., None]
        image = (1 - mix) * np.array(a, np.float32) + mix * np.array(b, np.float32)
        floor_y = int(round(self.floor))
        image[floor_y:] = 0.5 * image[floor_y:] + 0.5 * np.array(floor_col, np.float32)
        image[floor_y : floor_y + max(1, h // 90)] = 0.4 * np.array(floor_col, np.float32)
        return np.clip(image, 0, 255).astype(np.uint8)

    def camera(self, t: int) -> float:
        return self.cam0 + self.pan * t

    def frame(self, t: int) -> np.ndarray:
        spec = self.spec
        shot = self._shot(t)
        cam = self.camera(t)
        shift = np.float32([[1, 0, -cam], [0, 1, 0]])
        img = cv2.warpAffine(
            self.backgrounds[shot], shift, (spec.width, spec.height), flags=cv2.INTER_LINEAR
        )
        canvas = img.astype(np.float32)
        for i, obj in enumerate(spec.objects):
            for part, (x, y) in self._place(obj, t, cam).items():
                self._sprite(i, shot, part, obj).paste(canvas, x, y)
        if spec.grain > 0:
            canvas += self.rng.normal(0.0, spec.grain, canvas.shape).astype(np.float32)
        img = np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
        if spec.stamp_index:
            draw_frame_code(img, t)
        return img

    def _sizes(self, obj: ObjectSpec) -> dict[str, tuple[float, float]]:
        """(width, height) in pixels of each part of an object."""
        size = obj.size * self.spec.height
        if obj.kind == "fall":
            return {"ball": (size, size)}
        if obj.kind == "hit":
            return {"block": (0.5 * size, 2.2 * size), "mover": (size, size)}
        if obj.kind == "slide":
            return {"box": (1.6 * size, size)}
        return {"box": (2.5 * size, 0.8 * size)}

    def _place(self, obj: ObjectSpec, t: int, cam: float) -> dict[str, tuple[float, float]]:
        """Screen position of each part's centre at frame ``t``."""
        w, h = self.spec.width, self.spec.height
        size = obj.size * h
        x_world = obj.x * w + self.camera(obj.start)
        if obj.kind == "fall":
            y = self.floor - size / 2 - obj.distance * h * (1 - _fall_progress(obj, t))
            return {"ball": (x_world - cam, y)}
        if obj.kind == "hit":
            (bw, bh), _ = self._sizes(obj).values()
            block_x = x_world - cam
            contact_x = block_x - obj.direction * (bw / 2 + size / 2)
            x = contact_x - obj.direction * obj.distance * w * (1 - _accelerate(obj, t))
            return {
                "block": (block_x, self.floor - bh / 2),
                "mover": (x, self.floor - bh + size / 2),
            }
        if obj.kind == "slide":
            x = x_world + obj.direction * obj.distance * w * _ease(obj, t, self.spec.rate) - cam
            return {"box": (x, self.floor - size / 2)}
        length = self._sizes(obj)["box"][0]
        out = 4.0  # fully out of view (edge antialiasing included) at start - 1 and stop
        travel = w + length + 2 * out
        u = (t - obj.start + 1) / (obj.stop - obj.start + 1)
        left = -length - out + travel * u if obj.direction > 0 else w + out - travel * u
        return {"box": (left + length / 2, obj.lane * h)}

    def _sprite(self, i: int, shot: int, part: str, obj: ObjectSpec) -> _Sprite:
        key = (i, shot, part)
        if key not in self.sprites:
            pw, ph = self._sizes(obj)[part]
            colours = _PALETTES[shot % len(_PALETTES)][3]
            colour = (110, 110, 110) if part == "block" else colours[i % len(colours)]
            rng = np.random.default_rng(self.spec.seed * 31 + i * 7 + len(part))
            self.sprites[key] = _Sprite.make(pw, ph, colour, part == "ball", self, rng)
        return self.sprites[key]


@dataclass
class _Sprite:
    """A textured shape with an anti-aliased alpha mask, pasted at sub-pixel positions."""

    colour: np.ndarray  # (h, w, 3) float32
    alpha: np.ndarray  # (h, w) float32 in [0, 1]

    @classmethod
    def make(
        cls, w: float, h: float, colour, round_: bool, world: _World, rng: np.random.Generator
    ) -> _Sprite:
        pad = 2
        sw, sh = int(math.ceil(w)) + 2 * pad, int(math.ceil(h)) + 2 * pad
        mask = np.zeros((sh, sw), np.uint8)
        cx, cy = sw / 2, sh / 2
        if round_:
            cv2.circle(mask, _pt(cx, cy), int(round(w / 2 * 16)), 255, -1, cv2.LINE_AA, 4)
        else:
            corners = [
                (cx - w / 2, cy - h / 2),
                (cx + w / 2, cy - h / 2),
                (cx + w / 2, cy + h / 2),
                (cx - w / 2, cy + h / 2),
            ]
            pts = np.array([_pt(*c) for c in corners], np.int32)
            cv2.fillConvexPoly(mask, pts, 255, cv2.LINE_AA, 4)
        # Real objects have surface detail; a flat shape would hide its own motion inside.
        shade = 0.55 + 0.7 * world._noise(rng, sh, sw, (2, 4, 8))
        rgb = np.clip(np.array(colour, np.float32) * shade[..., None], 0, 255)
        return cls(rgb, mask.astype(np.float32) / 255.0)

    def paste(self, canvas: np.ndarray, x: float, y: float) -> None:
        """Blend into ``canvas`` (float32) with the sprite's centre at (x, y)."""
        sh, sw = self.alpha.shape
        ch, cw = canvas.shape[:2]
        ox, oy = x - sw / 2, y - sh / 2
        x0, y0 = int(math.floor(ox)), int(math.floor(oy))
        x1, y1 = x0 + sw + 1, y0 + sh + 1
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, cw), min(y1, ch)
        if cx0 >= cx1 or cy0 >= cy1:
            return
        shift = np.float32([[1, 0, ox - x0], [0, 1, oy - y0]])
        size = (sw + 1, sh + 1)
        rgb = cv2.warpAffine(self.colour, shift, size, flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(self.alpha, shift, size, flags=cv2.INTER_LINEAR)[..., None]
        sub = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
        region = canvas[cy0:cy1, cx0:cx1]
        region *= 1 - alpha[sub]
        region += alpha[sub] * rgb[sub]


def _accelerate(obj: ObjectSpec, t: int) -> float:
    """0 until ``start - 1``, then s ~ u^2 (constant acceleration), 1 from ``stop`` on."""
    n = obj.stop - obj.start + 1
    u = min(max((t - obj.start + 1) / n, 0.0), 1.0)
    return u * u


def _fall_progress(obj: ObjectSpec, t: int) -> float:
    """1 - height/drop: the drop with gravity, then one bounce of the same gravity."""
    if t <= obj.stop or not obj.bounce:
        return _accelerate(obj, t)
    u = (t - obj.stop) / obj.bounce
    if u >= 1:
        return 1.0
    n = obj.stop - obj.start + 1
    # Same gravity g = 2 / n^2 (drop units per frame^2): apex height g * b^2 / 8.
    return 1.0 - (obj.bounce / n) ** 2 * u * (1 - u)


def _ease(obj: ObjectSpec, t: int, rate: float | Fraction) -> float:
    """Travel fraction of a slide: speeds up and slows down over ~0.2 s (trapezoid speed)."""
    n = obj.stop - obj.start  # moves between frames start-1 and stop-1
    ramp = min(max(1.0, 0.2 * float(rate)), n / 3)
    s = min(max(t - obj.start + 1, 0), n)
    total = n - ramp  # area of the trapezoid with unit peak speed

    def area(x: float) -> float:
        if x <= ramp:
            return x * x / (2 * ramp)
        if x <= n - ramp:
            return ramp / 2 + (x - ramp)
        rest = n - x
        return total - rest * rest / (2 * ramp)

    return area(s) / total


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x * 16)), int(round(y * 16))
