"""The motion detector's stream: frames pushed one at a time, measured in a small pool of
threads, folded into per-frame evidence in order (evidence.py), and a shot's result asked
for when the shot is known (judged in decide.py)."""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import cv2
import numpy as np

from sonicvision.server.detect.base import Detection, FrameStream, take_shot
from sonicvision.server.detect.calibration import Calibration
from sonicvision.server.detect.evidence import (
    _DARK,
    _cells,
    _coherence,
    _ends,
    _Evidence,
    _gray,
    _Grid,
    _Halt,
    _Incoming,
    _Measured,
    _Pair,
    _Row,
    _Structure,
)
from sonicvision.server.detect.objects import NONE, contacts_sampled, find_blobs, stride
from sonicvision.server.detect.reject import Faces

if TYPE_CHECKING:
    from sonicvision.server.detect.motion import MotionDetector

logger = logging.getLogger(__name__)


class MotionStream(FrameStream):
    """Measures each frame as it is pushed (flow against the frame before) and keeps only the
    per-frame evidence, so a long clip is never held whole.

    The flow of each pair of frames is measured in a small pool of threads (OpenCV and numpy
    release the GIL), and folded into the evidence in order, so the result does not depend on
    the threads. The evidence is measured across shot boundaries too; :meth:`shot` forgets
    what crossed into the shot (its first frame's arrival, and the impact judgements that
    needed frames outside it), so a shot's result is exactly what
    :meth:`MotionDetector.detect` gives for its frames alone.
    """

    def __init__(
        self, detector: MotionDetector, rate: float, pool: Executor | None, depth: int = 4
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.detector, self.rate, self.pool, self.depth = detector, float(rate), pool, depth
        self._rows: list[_Row] = []
        self._offset = 0  # stream index of self._rows[0]
        self._shape: tuple[int, ...] | None = None
        self._grid: _Grid | None = None
        self._size = (0, 0)
        self._prev: tuple[np.ndarray, _Structure, np.ndarray] | None = None
        self._faces = Faces()
        self._measuring: deque[tuple[_Pair, Future[_Measured]]] = deque()
        self._recent: deque[_Row] = deque(maxlen=3)  # rows of frames t-2, t-1, t once folded
        self._prev_in: _Incoming | None = None
        self._before: _Incoming | None = None  # how frame t-2 arrived
        self._halt: tuple[_Row, _Halt] | None = None  # frame t-1 halted: check it at t+1
        # Small objects: every ``_every``-th frame is one sample (objects.stride); the last
        # 2 * _every + 1 frames' rows, grey pictures at analysis size and camera models (each
        # frame's onto the one before, at analysis size; None: the stream's first).
        self._every = stride(self.rate)
        self._window: deque[tuple[_Row, np.ndarray, np.ndarray | None]] = deque(
            maxlen=2 * self._every + 1
        )

    def push(self, frame: np.ndarray) -> None:
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[-1] != 3:
            raise ValueError(f"a frame must be (H, W, 3) BGR, got shape {frame.shape}")
        if self._shape is None:
            self._shape = frame.shape
            self._grid, self._size = self.detector._grid(frame.shape[1], frame.shape[0], self.rate)
        elif frame.shape != self._shape:
            raise ValueError(f"frame of shape {frame.shape} in a stream of {self._shape}")
        full = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        cur = _gray(frame, *self._size)
        cur_tex = _Structure.of(cur, self.detector.config.min_slope)
        row = _Row()
        self._rows.append(row)
        if self._prev is None:
            self._prev = cur, cur_tex, full
            self._recent.append(row)
            self._window.append((row, full, None))
            return
        prev, prev_tex, prev_full = self._prev
        pair = _Pair(row, prev, prev_tex, prev_full, cur, cur_tex, full)
        self._prev = cur, cur_tex, full
        if self.pool is None:
            self._fold(pair, self._measure(pair))
            return
        self._measuring.append((pair, self.pool.submit(self._measure, pair)))
        while self._measuring and (
            self._measuring[0][1].done() or len(self._measuring) > self.depth
        ):
            self._fold_next()

    def _measure(self, pair: _Pair) -> _Measured:
        """Flow both ways between the two frames, and how the second one arrived."""
        dis = self.detector._flow(self._size)
        back = dis.calc(pair.cur, pair.prev, None)  # on frame t, towards t-1
        fwd = dis.calc(pair.prev, pair.cur, None)  # on frame t-1, towards t
        assert self._grid is not None
        inc = self.detector._incoming(self._grid, pair.prev, pair.cur, pair.cur_tex, back, fwd)
        return _Measured(inc, fwd)

    def _fold_next(self) -> None:
        pair, future = self._measuring.popleft()
        self._fold(pair, future.result())

    def _fold(self, pair: _Pair, measured: _Measured) -> None:
        """Frame t's row, in order; then frame t-1 can be judged: how it arrived, how it left,
        and what came before."""
        det, grid, cfg = self.detector, self._grid, self.detector.config
        assert grid is not None
        inc, row = measured.incoming, pair.row
        row.camera = inc.camera
        row.unmatched = inc.unmatched
        row.moving = float(inc.moving.mean())
        row.speed = float(inc.speed[inc.moving].mean()) if inc.moving.any() else 0.0
        row.at_edge = float(inc.moving[grid.band(inc.margin)].sum() / inc.moving.size)
        row.level, row.dark = float(pair.cur.mean()), float(np.mean(pair.cur < _DARK))
        row.coherence, row.cells = _coherence(inc), _cells(inc)
        row.low, row.high = _ends(inc)
        self._recent.append(row)
        rows = self._recent
        uncut = max(r.unmatched for r in rows) < cfg.cut_unmatched  # frames t-2 .. t
        # Frame t-2 halted: does it go on the same way now? (Not across a cut.)
        if self._halt is not None:
            judged, halt = self._halt
            if uncut:
                judged.resumed = det._resumes(halt, inc)
            self._halt = None
        if self._before is not None and uncut:
            assert self._prev_in is not None
            judged = rows[-2]
            judged.impact, judged.impact_speed, halt, where = det._impact(
                grid,
                self._before,
                self._prev_in,
                inc,
                measured.fwd,
                pair.prev,
                pair.prev_tex,
                pair.cur,
            )
            if halt is not None:
                self._halt = judged, halt
            if judged.impact > 0:
                judged.stop_x, judged.stop_y, judged.stop_vx, judged.stop_vy = where[:4]
                judged.stop_area = where[4]
                judged.face = self._faces.covers(pair.prev_full, where[0], where[1])
        self._window.append((row, pair.cur_full, self._scaled(inc.model)))
        self._find_blobs()
        self._before, self._prev_in = self._prev_in, inc

    def _find_blobs(self) -> None:
        """Small objects at the middle frame of the window, against the frames ``_every``
        before and after it (the camera's models between them composed), none across a cut."""
        window, every = self._window, self._every
        if len(window) < 2 * every + 1:
            return
        if max(r.unmatched for r, _, _ in list(window)[1:]) >= self.detector.config.cut_unmatched:
            return
        models = [m for _, _, m in window]
        if every == 1:
            back, to_next = models[1], models[2]
        else:
            back = _composed(models[every:0:-1])
            to_next = _composed(models[:every:-1])
        fwd = cv2.invertAffineTransform(to_next)
        window[every][0].blobs = find_blobs(
            window[0][1], window[every][1], window[-1][1], back, fwd
        )

    def _scaled(self, model: np.ndarray) -> np.ndarray:
        """A camera model at flow size, for pictures at analysis size."""
        assert self._shape is not None
        sx, sy = self._shape[1] / self._size[0], self._shape[0] / self._size[1]
        out = model.astype(np.float64).copy()
        out[0, 1] *= sx / sy
        out[1, 0] *= sy / sx
        out[0, 2] *= sx
        out[1, 2] *= sy
        return out

    def shot(self, first: int, count: int, before: int = 0, after: int = 0) -> Detection:
        while self._measuring:
            self._fold_next()
        before, after = max(0, before), max(0, after)
        rows, self._offset = take_shot(self._rows, self._offset, first, count, before, after)
        if count < 2:
            return Detection(
                np.zeros(count, bool), [], np.zeros(count, np.float32), ["too few frames"]
            )
        ev = _Evidence.of(rows)
        # Forget what needed frames outside the shot and its context: the first frame's
        # arrival needs the frame before; an impact needs the two frames before it and the
        # one after; a stutter shows two frames after.
        if before < 1:
            ev.clear(0)
        if before < 2:
            ev.impact[0] = ev.impact_speed[0] = 0.0
        if before < 1:
            ev.impact[1] = ev.impact_speed[1] = 0.0
        if after < 1:
            ev.impact[-1] = ev.impact_speed[-1] = 0.0
        stuttered = np.array([r.resumed for r in rows], dtype=bool)
        stuttered[len(stuttered) - max(0, 2 - after) :] = False
        ev.impact[stuttered] = ev.impact_speed[stuttered] = 0.0
        # A small object's frame needs the frames on both sides of it.
        every = self._every
        lo, hi = max(0, every - before), len(rows) - max(0, every - after)
        blobs = [r.blobs if lo <= i < hi else NONE for i, r in enumerate(rows)]
        assert self._shape is not None
        found = []
        if self.detector.config.small_objects:
            w, h = self._shape[1], self._shape[0]
            found = contacts_sampled(blobs, self.rate, w, h, every)
        return self.detector._decide(ev, self.rate, found)


def _composed(models: list[np.ndarray | None]) -> np.ndarray:
    """2x3 camera models applied one after the other (the first to a pixel first)."""
    out = np.eye(3)
    for m in models:
        assert m is not None
        out = np.vstack([m, (0.0, 0.0, 1.0)]) @ out
    return out[:2]


_POOL_LOCK = threading.Lock()
_TABLE: list[Calibration] = []


def _calibration() -> Calibration:
    """The shipped calibration table, read once per process."""
    with _POOL_LOCK:
        if not _TABLE:
            _TABLE.append(Calibration.load())
        return _TABLE[0]


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _shared_pool(threads: int) -> ThreadPoolExecutor:
    """Threads that measure frame pairs, shared by every stream of the process (streams come
    and go with clips and jobs; their threads should not)."""
    with _POOL_LOCK:
        if threads not in _POOLS:
            _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="motion")
        return _POOLS[threads]
