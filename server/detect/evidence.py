"""Per-frame evidence of the motion detector: how each frame's pixels arrived (``_Incoming``),
the rows kept per frame (``_Row``), a shot's columns of them (``_Evidence``), the analysis
grid (``_Grid``) and picture structure (``_Structure``), and small helpers over runs of
frames. Measured in motion.py and motion_stream.py; judged in decide.py."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from sonicvision.server.detect.objects import NONE, Blobs, above_noise

logger = logging.getLogger(__name__)

_NOWHERE = (0.0, 0.0, 0.0, 0.0, 0.0)
_DARK = 20  # grey levels: near black (fades, irises)
_CELLS = (8, 6)  # columns, rows of the coarse motion grid
_NO_CELLS = np.zeros((_CELLS[1], _CELLS[0], 2), np.float32)
_KERNEL = np.ones((3, 3), np.uint8)
_REGION = np.ones((7, 7), np.uint8)  # joins the pieces of one moving object


@dataclass(frozen=True)
class _Pair:
    """Two neighbouring frames (grey, at flow size) waiting to be measured, and the row of the
    second one."""

    row: _Row
    prev: np.ndarray
    prev_tex: _Structure
    prev_full: np.ndarray  # frame t-1 grey at analysis size (faces are looked for there)
    cur: np.ndarray
    cur_tex: _Structure
    cur_full: np.ndarray


@dataclass(frozen=True)
class _Measured:
    incoming: _Incoming
    fwd: np.ndarray  # flow on frame t-1 towards t: how frame t-1 left


@dataclass(frozen=True)
class _Halt:
    """The pixels of frame t that halted in an impact, and how they arrived."""

    mask: np.ndarray  # (h, w) bool
    velocity: np.ndarray  # (h, w, 2) widths/s
    speed: np.ndarray  # (h, w)


@dataclass
class _Row:
    """One frame's measurements: the motion arriving at it from the frame before."""

    moving: float = 0.0  # fraction of the frame moving
    speed: float = 0.0  # mean speed of the moving pixels, widths/s
    at_edge: float = 0.0  # moving pixels at the frame's edge, as a fraction of the frame
    camera: tuple[float, float] = (0.0, 0.0)  # global motion, widths/s
    unmatched: float = 0.0  # share of pixels the flow cannot match (a cut: most)
    impact: float = 0.0  # deceleration summed over stopping pixels / frame area
    impact_speed: float = 0.0  # mean deceleration of the stopping pixels, widths/s
    resumed: bool = False  # what halted here moved on the same way two frames later
    level: float = 0.0  # mean grey level
    dark: float = 0.0  # share of near-black pixels
    coherence: float = 0.0  # |mean velocity| / mean speed of the moving pixels (1: rigid)
    cells: np.ndarray | None = None  # (6, 8, 2) mean velocity of the moving pixels per cell
    # Mean velocity (widths/s) of the lowest and the highest quarter of the moving pixels:
    # a walker's feet stay planted in turn while the body above goes on (reject.planted).
    low: tuple[float, float] = (0.0, 0.0)
    high: tuple[float, float] = (0.0, 0.0)
    stop_x: float = 0.0  # where the impact's pixels stopped (fractions of the frame) ...
    stop_y: float = 0.0
    stop_vx: float = 0.0  # ... and how they arrived, widths/s
    stop_vy: float = 0.0
    stop_area: float = 0.0  # moving area of the regions that stopped, fraction of the frame
    face: bool = False  # the stop is on a face
    blobs: Blobs = NONE  # small objects seen at this frame (objects.py)


@dataclass
class _Evidence:
    """The rows of one shot as arrays; index t is the frame."""

    moving: np.ndarray
    speed: np.ndarray
    at_edge: np.ndarray
    camera: np.ndarray  # (T, 2)
    unmatched: np.ndarray
    impact: np.ndarray
    impact_speed: np.ndarray
    level: np.ndarray
    dark: np.ndarray
    coherence: np.ndarray
    stop_area: np.ndarray
    stop: np.ndarray  # (T, 4): x, y, vx, vy
    face: np.ndarray
    cells: np.ndarray  # (T, 6, 8, 2)
    low: np.ndarray  # (T, 2)
    high: np.ndarray  # (T, 2)

    @classmethod
    def of(cls, rows: list[_Row]) -> _Evidence:
        def column(name: str) -> np.ndarray:
            return np.array([getattr(r, name) for r in rows], dtype=float)

        names = ("moving", "speed", "at_edge", "camera", "unmatched", "impact", "impact_speed")
        names += ("level", "dark", "coherence", "stop_area")
        ends = tuple(
            np.array([getattr(r, n) for r in rows], dtype=float).reshape(-1, 2)
            for n in ("low", "high")
        )
        stop = np.array([(r.stop_x, r.stop_y, r.stop_vx, r.stop_vy) for r in rows], dtype=float)
        face = np.array([r.face for r in rows], dtype=float)
        cells = np.stack([_NO_CELLS if r.cells is None else r.cells for r in rows])
        return cls(*(column(n) for n in names), stop, face, cells, *ends)

    def clear(self, t: int) -> None:
        """Forget everything measured at frame ``t``."""
        for values in vars(self).values():
            values[t] = 0.0


@dataclass
class _Incoming:
    """Frame t as it arrived from t-1."""

    camera: np.ndarray
    velocity: np.ndarray  # (h, w, 2) widths/s, camera removed
    speed: np.ndarray
    reliable: np.ndarray
    moving: np.ndarray
    margin: int
    unmatched: float
    back: np.ndarray  # the flow towards t-1, pixels
    changed: np.ndarray  # differs from frame t-1 (camera motion taken out)
    model: np.ndarray  # the camera's 2x3 model taking a pixel of t to t-1 (flow size)


@dataclass
class _Structure:
    """Where a frame has enough contrast for flow, and which way it can be measured there.

    On a straight edge only the motion across the edge is visible (the aperture problem),
    so there the flow is reduced to that component.
    """

    textured: np.ndarray  # (h, w) bool
    edge_only: np.ndarray  # (h, w) bool: a straight edge, not a corner or texture
    nx: np.ndarray  # (h, w) unit vector across the edge (0 off straight edges) ...
    ny: np.ndarray
    off_edge: np.ndarray  # (h, w) float32: 1 where the whole flow is seen, 0 on straight edges

    @classmethod
    def of(cls, gray: np.ndarray, slope: float) -> _Structure:
        gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)  # slope in levels/px
        gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
        a = cv2.blur(gx * gx, (5, 5))
        b = cv2.blur(gx * gy, (5, 5))
        c = cv2.blur(gy * gy, (5, 5))
        half_sum, root = (a + c) / 2, np.sqrt(((a - c) / 2) ** 2 + b * b)
        big, small = half_sum + root, half_sum - root
        floor = slope * slope
        textured = big > floor
        edge_only = textured & (small <= floor)
        on = np.flatnonzero(edge_only)  # integer indices: faster than the mask, same values
        theta = 0.5 * np.arctan2(2 * b.ravel().take(on), a.ravel().take(on) - c.ravel().take(on))
        nx, ny = np.zeros_like(a), np.zeros_like(a)
        nx.ravel()[on], ny.ravel()[on] = np.cos(theta), np.sin(theta)
        return cls(textured, edge_only, nx, ny, (~edge_only).astype(np.float32))

    def measurable(self, flow: np.ndarray) -> np.ndarray:
        """``flow`` with only its across-the-edge component kept on straight edges.

        Written without masks (``off_edge`` and the normal are 0 where they do not apply),
        which is several times faster on these small pictures and gives the same numbers."""
        fx, fy = flow[..., 0], flow[..., 1]
        along = fx * self.nx + fy * self.ny
        out = np.empty_like(flow)
        np.add(fx * self.off_edge, along * self.nx, out=out[..., 0])
        np.add(fy * self.off_edge, along * self.ny, out=out[..., 1])
        return out


class _Grid:
    """Pixel coordinates at flow resolution and the per-pixel checks built on them."""

    def __init__(self, w: int, h: int, to_speed: float) -> None:
        self.w, self.h, self.to_speed = w, h, to_speed
        self.x, self.y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))

    def reliable(
        self,
        flow: np.ndarray,
        reverse: np.ndarray,
        here: np.ndarray,
        there: np.ndarray,
        level: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pixels whose ``flow`` (here -> there) is undone by ``reverse`` and matches the
        picture, and each pixel's grey-level error of that match."""
        mx, my = self.x + flow[..., 0], self.y + flow[..., 1]
        rev = cv2.remap(reverse, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = np.hypot(flow[..., 0] + rev[..., 0], flow[..., 1] + rev[..., 1])
        seen = cv2.remap(there, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        residual = cv2.absdiff(here, seen)
        inside = (mx >= 0) & (mx <= self.w - 1) & (my >= 0) & (my <= self.h - 1)
        ok = inside & (err < 0.5 + 0.25 * np.hypot(flow[..., 0], flow[..., 1])) & (residual < level)
        return ok, residual

    def changed(
        self,
        here: np.ndarray,
        there: np.ndarray,
        model: np.ndarray,
        shift: np.ndarray,
        level: float,
    ) -> tuple[np.ndarray, int]:
        """Pixels that differ from ``there`` seen through ``model`` (the camera; ``shift``: its
        per-pixel flow), and the margin left out at the edges where the camera brings in new
        content."""
        seen = cv2.warpAffine(
            there,
            model.astype(np.float32),
            (self.w, self.h),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        diff = cv2.absdiff(here, seen)
        margin = int(np.ceil(float(np.abs(shift).max()))) + 1
        return above_noise(diff, margin, level), margin

    def speed(self, widths_per_s: float, noise_px: float) -> float:
        """A speed threshold in widths/s, raised at high rates to ``noise_px`` pixels a frame
        (the flow's noise floor)."""
        return max(widths_per_s, noise_px * self.to_speed)

    def follow(self, mask: np.ndarray, back: np.ndarray) -> np.ndarray:
        """``mask`` (of frame t-1) read where each pixel of frame t came from."""
        mx, my = self.x + back[..., 0], self.y + back[..., 1]
        src = mask.view(np.uint8)
        return cv2.remap(src, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT) > 0

    def stays(self, back: np.ndarray, margin: int) -> np.ndarray:
        """Pixels that, going on as they came (``-back``), are still in view next frame."""
        x, y = self.x - back[..., 0], self.y - back[..., 1]
        lo, hi_x, hi_y = margin, self.w - 1 - margin, self.h - 1 - margin
        return (x >= lo) & (x <= hi_x) & (y >= lo) & (y <= hi_y)

    def edge(self, margin: int) -> np.ndarray:
        """The ``margin`` pixels along the frame's edge."""
        m = np.ones((self.h, self.w), bool)
        m[margin:-margin, margin:-margin] = False
        return m

    def sides(self, margin: int) -> tuple[np.ndarray, ...]:
        """Bands along the left, right, top and bottom edges (see :meth:`band`)."""
        b = margin + max(2, min(self.h, self.w) // 30)
        masks = []
        for cols, rows in (
            (slice(0, b), slice(None)),
            (slice(-b, None), slice(None)),
            (slice(None), slice(0, b)),
            (slice(None), slice(-b, None)),
        ):
            m = np.zeros((self.h, self.w), bool)
            m[rows, cols] = True
            masks.append(m)
        return tuple(masks)

    def band(self, margin: int) -> np.ndarray:
        """The frame's edge, just inside the margin the camera motion leaves out."""
        m = np.zeros((self.h, self.w), bool)
        b = margin + max(2, min(self.h, self.w) // 30)
        m[:, :b] = m[:, -b:] = m[:b, :] = m[-b:, :] = True
        return m


def _coherence(inc: _Incoming) -> float:
    """How rigidly the moving pixels move together: 1 when all go one way at one speed."""
    if not inc.moving.any():
        return 0.0
    v = inc.velocity[inc.moving]
    return float(np.hypot(*v.mean(axis=0)) / max(float(inc.speed[inc.moving].mean()), 1e-9))


def _cells(inc: _Incoming) -> np.ndarray:
    """Mean velocity of the moving pixels in each cell of a coarse grid (0 where none move):
    enough to see a motion go back and forth, small enough to keep for every frame."""
    m = inc.moving.astype(np.float32)
    share = cv2.resize(m, _CELLS, interpolation=cv2.INTER_AREA)
    out = np.zeros((_CELLS[1], _CELLS[0], 2), np.float32)
    for k in range(2):
        mean = cv2.resize(inc.velocity[..., k] * m, _CELLS, interpolation=cv2.INTER_AREA)
        np.divide(mean, share, out=out[..., k], where=share > 0.02)
    return out


def _ends(inc: _Incoming) -> tuple[tuple[float, float], tuple[float, float]]:
    """Mean velocity of the lowest and of the highest quarter of the moving pixels (by
    height): how the bottom of what moves goes beside its top."""
    ys, xs = np.nonzero(inc.moving)
    if len(ys) < 8:
        return (0.0, 0.0), (0.0, 0.0)
    # Row by row, so ``ys`` is sorted: each quarter is a run of it, and its quartiles are
    # read straight off it (``np.percentile``'s linear rule; its generality cost a tenth of
    # the frame's evidence).
    lo, hi = _quantile(ys, 0.25), _quantile(ys, 0.75)
    v = inc.velocity[ys, xs]
    top, bottom = np.searchsorted(ys, lo, side="right"), np.searchsorted(ys, hi, side="left")
    low, high = v[bottom:].mean(axis=0), v[:top].mean(axis=0)
    return (float(low[0]), float(low[1])), (float(high[0]), float(high[1]))


def _quantile(ordered: np.ndarray, q: float) -> float:
    """The ``q`` quantile of sorted integers, interpolated as ``np.percentile`` does."""
    at = q * (len(ordered) - 1)
    k = int(at)
    below, above = float(ordered[k]), float(ordered[min(k + 1, len(ordered) - 1)])
    return below + (above - below) * (at - k)


def _gray(frame: np.ndarray, w: int, h: int) -> np.ndarray:
    g = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if g.shape != (h, w):
        g = cv2.resize(g, (w, h), interpolation=cv2.INTER_AREA)
    return g


def _running_median(x: np.ndarray, half: int) -> np.ndarray:
    padded = np.pad(x, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return np.median(windows, axis=1)


def _close_gaps(active: np.ndarray, gap: int) -> np.ndarray:
    out = active.copy()
    runs = _runs(active)
    for (_, b0), (a1, _) in zip(runs, runs[1:], strict=False):
        if a1 - b0 <= gap:
            out[b0:a1] = True
    return out


def _runs(active: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    padded = np.concatenate([[False], active, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
