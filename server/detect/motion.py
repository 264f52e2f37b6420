"""The embedded timestamp detector: when things hit, slide or pass by, from the pictures alone.

No weights. Dense optical flow (OpenCV DIS, both directions between neighbouring frames, at
``flow_width`` pixels) with the camera's motion taken out gives each pixel's velocity arriving
at a frame and leaving it. A sound's attack is where something stops suddenly; a sustained
sound is where something keeps moving.

Per frame pair: the camera's motion is a similarity transform fitted by RANSAC to the flow
(``camera.py``: pan, tilt, zoom, roll), subtracted, so a smooth camera move is not an event.
A pixel's flow is trusted ("reliable") where the area has detail, the backward and forward
flows agree, and the flow explains the picture; on a
straight edge only the motion across it is used (the aperture problem). A pixel "moves" when
its reliable speed exceeds ``move_speed``, or when it changed where the flow cannot follow.

How intervals are built (frame indices relative to the first frame passed in):

* **impact** (``continuous=False``): frame ``t`` is an impact when, within one moving region,
  most pixels that arrived at ``t`` faster than ``impact_speed`` lose at least half of that
  speed along their path into ``t + 1`` (a sudden stop, or a bounce proven by a reliable
  flow going back), the region was already moving at ``t - 1`` (the approach) and not
  already slowing down (``impact_steady``: an eased stop is soft), a stop is confirmed by the
  region being at rest at ``t + 1`` and not moving on the same way at ``t + 2`` (a stutter;
  not checked on a shot's last two frames), and nothing says the region is leaving the view
  instead. ``onset`` is ``t``: the contact frame, the first frame where the object
  is at the floor / against what it hit. The interval is ``[t, t + round(impact_span_s *
  rate))``, clipped to the shot: a short attack-and-decay span. At most one impact per stop
  (the strongest frame within two frames).
* **continuous** (``continuous=True``, ``motion`` "slide" or "pass-by"): frames where at
  least ``move_area`` of the picture moves (median over ~0.1 s), runs joined across gaps up to
  ``max_gap_s`` and kept when at least ``min_continuous_s`` long. Motion that ends in an
  impact (up to the impact's span) is that impact's approach (a fall, a swing) and makes no
  continuous event; motion going on after it does. A run whose moving pixels are at the
  frame's edge at its start or end enters or leaves the view: "pass-by"; otherwise "slide".

Speeds are in frame widths per second (thresholds mean the same at any size and rate), raised
at high rates to the flow's noise floor of ``flow_noise_px`` per frame. Hard cuts inside the
frames (the flow matches less than half the picture) carry no evidence and are noted.
``scores`` is the per-frame evidence relative to its threshold: the larger of the impact
evidence and the moving area, each divided by its threshold (>= 1 means above it).

Limits: synthetic tests show onsets on the exact frame; very slow slides at high rates
(below ~0.1 widths/s at 50-60 fps) are partly missed; at 50-60 fps an object at rest under
a pan that a flat background hides drifts in fits and can still read as stops (see
bench/detector_sweep.py); an object disappearing behind a
look-alike occluder can read as a stop; motion of two objects that overlap in time and
space is judged as one region.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter, deque
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import cv2
import numpy as np

from sonicvision.errors import ConfigError
from sonicvision.server.detect.base import (
    Candidate,
    Detection,
    Detector,
    EventInterval,
    FrameStream,
    take_shot,
)
from sonicvision.server.detect.calibration import (
    FLOW,
    SMALL,
    Calibration,
    contact_features,
    flow_features,
)
from sonicvision.server.detect.camera import camera_flow, camera_model
from sonicvision.server.detect.objects import NONE, Blobs, Contact, contacts, find_blobs
from sonicvision.server.detect.reject import (
    Faces,
    Run,
    contact_verdict,
    impact_verdict,
    judge_runs,
)

logger = logging.getLogger(__name__)

IMPACT_SPAN_S = 0.2


@dataclass(frozen=True)
class MotionConfig:
    """Thresholds of :class:`MotionDetector`: speeds in frame widths per second, areas as
    fractions of the frame, levels in 8-bit grey."""

    flow_width: int = 160  # width the flow is computed at, pixels
    impact_speed: float = 0.15  # a stop loses at least this speed ...
    impact_fraction: float = 0.5  # ... and at least this fraction of its incoming speed
    impact_area: float = 0.0012  # stopping pixels needed for an impact
    move_speed: float = 0.05  # a pixel moves above this speed
    flow_noise_px: float = 0.25  # flow below this many pixels per frame is noise, at any rate
    # A stop must lose at least this many pixels a frame (at flow_width): a slow drift that the
    # flow reads in flickers (an object at rest under a pan that a flat background hides) is
    # no impact. It binds above 32 fps only. On 30 generated 50/59.94 fps scenes it took the
    # false impacts from 41 to 12 and kept all 26 true ones (1.0 px lost a small bounce).
    impact_noise_px: float = 0.75
    impact_steady: float = 0.65
    # What halted and moves on the same way two frames later at this fraction of its arrival
    # speed stuttered: no impact.
    resume_fraction: float = 0.5
    move_area: float = 0.0025  # moving pixels needed for continuous activity
    min_level: float = 10.0  # least grey-level change that counts as a change
    min_slope: float = 1.5  # grey levels per pixel: flatter areas have no measurable flow
    impact_span_s: float = IMPACT_SPAN_S
    min_continuous_s: float = 0.24
    max_gap_s: float = 0.12
    cut_unmatched: float = 0.5  # a pair where the flow matches fewer pixels than this is a cut
    # What makes no sound (reject.py). Impacts below this confidence (calibrated: the chance
    # of a contact, calibration.py) are not reported. Read off the curve of
    # `bench/spotting_real.py --calibrate`: no threshold above 0 keeps every true impact.
    # Held out (each half of Big Buck Bunny scored by a map fitted without it), 0.15 leaves
    # the second half at precision 1.00 (recall 0.29 -> 0.24) but drops 12 of 96 generated
    # impacts (weak bounces); 0.05 already drops one of the demo cut's. So none by default;
    # editors trade with --min-confidence (0.4: the film's cues all true, recall 0.26).
    min_confidence: float = 0.0
    # Small fast objects, tracked as blobs of change where the flow cannot follow (objects.py).
    small_objects: bool = True
    # A small object that bounces or comes to rest where the picture around it was flat
    # (grey levels' spread under this) met nothing: empty space, a screen's pointer over a
    # plain background. Big Buck Bunny's two true ones met ground spreading 19; the text
    # cursor of movie-hello.mp4 0.
    contact_ground: float = 2.0
    periodic_reversals: int = 3  # a place that reverses this often in +-0.5 s flaps
    passby_area: float = 0.008  # a pass-by is a large object: this much of the frame moving ...
    passby_speed: float = 0.5  # ... crossing fast (widths/s): close to the camera
    slide_coherence: float = 0.6  # a slide moves rigidly: |mean velocity| / mean speed
    slide_area: float = 0.15  # more of the picture moving than this is background, not a slide
    # A slide moving in separate places (8 x 6 grid) on more of its frames than this is several
    # things (vtest's walkers: 0.51); the generated scenes' slides: <= 0.17.
    slide_scattered: float = 0.3
    # A slide's moving area holds from frame to frame: its median change under this share of
    # its median; and it moves on this share of its frames at least (gaps bridged). Generated
    # slides: changes 0.02-0.28, moving on >= 0.82; vtest's walkers change 1.2-1.8, the
    # mouse pointer of movie-hello.ogg moves on 0.6.
    slide_steady: float = 0.5
    slide_sustained: float = 0.75
    # A flow impact's regions moving over more of the frame than this are a body, a face or a
    # close-up turning, not a thing that hit something. Generated scenes' impacts: <= 0.051;
    # on Big Buck Bunny 11 of 19 false flow impacts were larger.
    impact_region: float = 0.08
    # What stops must have come steadily: on each of the 2 frames before, the place moved
    # along the arrival direction at least this share of the arrival speed. Generated scenes'
    # impacts: >= 0.19; it turned down 7 of BBB's 19 false flow impacts (gestures that start
    # and stop; 3 frames would take 9 but loses the demo cut's second bounce).
    impact_approach: float = 0.15


class MotionDetector(Detector):
    """Optical-flow onset detector (the weights-free default for the timestamp detector)."""

    name = "motion"

    def __init__(
        self,
        config: MotionConfig | None = None,
        threads: int | None = None,
        min_confidence: float | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        config = config or MotionConfig()
        if min_confidence is not None:
            if not 0.0 <= min_confidence <= 1.0:
                raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
            config = replace(config, min_confidence=min_confidence)
        self.config = config
        self.threads = threads  # threads measuring frame pairs; None: one per core, up to 4
        self.calibration = calibration if calibration is not None else _calibration()

    def detect(self, frames: np.ndarray, rate: float) -> Detection:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be (T, H, W, 3) BGR, got shape {frames.shape}")
        stream = self.stream(rate)
        for frame in frames:
            stream.push(frame)
        return stream.shot(0, len(frames))

    def stream(self, rate: float) -> MotionStream:
        threads = self.threads or max(1, min(4, os.cpu_count() or 1))
        pool = _shared_pool(threads) if threads > 1 else None
        return MotionStream(self, rate, pool, depth=2 * threads)

    def for_child(self) -> MotionDetector:
        # The process that decodes keeps a core: the child measures with the others.
        threads = max(1, min(4, (os.cpu_count() or 2) - 1))
        return MotionDetector(self.config, threads=threads, calibration=self.calibration)

    def _incoming(
        self,
        grid: _Grid,
        prev: np.ndarray,
        cur: np.ndarray,
        structure: _Structure,
        back: np.ndarray,
        fwd: np.ndarray,
    ) -> _Incoming:
        """How the pixels of frame t arrived from t-1: velocity, reliability, moving mask."""
        cfg = self.config
        model = camera_model(back, structure.textured)
        camera = camera_flow(model, grid.x, grid.y)
        reliable, residual = grid.reliable(back, fwd, cur, prev, cfg.min_level * 1.5)
        reliable &= structure.textured
        vin = structure.measurable((camera - back) * grid.to_speed)
        speed = np.hypot(vin[..., 0], vin[..., 1])
        changed, margin = grid.changed(cur, prev, model, camera, cfg.min_level)
        # Moving: measured by a reliable flow, or changed where the flow cannot follow (fast).
        fast = speed > grid.speed(cfg.move_speed, cfg.flow_noise_px)
        moving = (reliable & fast) | (changed & ~reliable)
        moving = cv2.morphologyEx(moving.view(np.uint8), cv2.MORPH_OPEN, _KERNEL).view(bool)
        unmatched = float(np.mean(residual > cfg.min_level * 1.5))
        return _Incoming(
            -camera.mean(axis=(0, 1)) * grid.to_speed,
            vin,
            speed,
            reliable,
            moving,
            margin,
            unmatched,
            back,
            changed,
            model,
        )

    def _grid(self, w: int, h: int, rate: float) -> tuple[_Grid, tuple[int, int]]:
        """The flow's pixel grid for pictures ``w`` x ``h``, and its size."""
        scale = min(self.config.flow_width, w) / w
        scale = max(scale, _MIN_SIDE / min(h, w))  # the flow needs a few patches each way
        fw, fh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
        return _Grid(fw, fh, rate / fw), (fw, fh)

    def _impact(
        self,
        grid: _Grid,
        before: _Incoming,
        inc: _Incoming,
        inc_next: _Incoming,
        fwd: np.ndarray,
        here: np.ndarray,
        structure: _Structure,
        nxt: np.ndarray,
    ) -> tuple[float, float, _Halt | None, tuple[float, float, float, float, float]]:
        """Does something stop at this frame? Velocity arriving (``inc``) against leaving.

        Returns the impact evidence (deceleration summed over the stopping pixels, per frame
        area), the stopping pixels' mean deceleration (zeros when nothing stops), when most
        of it halted rather than rebounded, what halted (see :meth:`_resumes`), and where it
        stopped: centre (fractions of the frame), mean arrival velocity (widths/s) and the
        moving area of the regions that stopped (fraction of the frame)."""
        cfg = self.config
        impact_speed = grid.speed(cfg.impact_speed, cfg.impact_noise_px)

        # 1. Pixels that arrived fast, and were already moving a frame earlier (a stop ends a
        # motion). A moving object's flow spills onto the still background beside it: what
        # arrived fast must also have changed. What would be out of view next frame is leaving.
        # Most frames have too few of them for an impact: they need nothing more.
        vin, sin = inc.velocity, inc.speed
        arrived = inc.reliable & inc.changed & (sin > impact_speed)
        leaving = arrived & ~grid.stays(inc.back, inc.margin)
        fast = arrived & ~leaving
        candidate = fast & grid.follow(before.moving, inc.back)
        least = cfg.impact_area * candidate.size
        if candidate.sum() < least:
            return 0.0, 0.0, None, _NOWHERE

        # 2. Velocity leaving each pixel of frame t, where it can be known.
        model = camera_model(fwd, structure.textured)
        camera = camera_flow(model, grid.x, grid.y)
        reliable, _ = grid.reliable(fwd, inc_next.back, here, nxt, cfg.min_level * 1.5)
        reliable &= structure.textured
        changed, margin = grid.changed(here, nxt, model, camera, cfg.min_level)
        unchanged = ~changed
        unchanged[grid.edge(margin)] = False  # new content there: unknown, not unchanged
        vout = structure.measurable((fwd - camera) * grid.to_speed)
        vout[~reliable & unchanged] = 0.0  # looks the same next frame: at rest

        # 3. Of those, the pixels that lose at least half their speed along their path.
        along = (vout[..., 0] * vin[..., 0] + vout[..., 1] * vin[..., 1]) / np.maximum(sin, 1e-6)
        decel = sin - along
        stop = candidate & (reliable | unchanged)
        stop &= (decel > impact_speed) & (decel > cfg.impact_fraction * sin)
        if stop.sum() < least:
            return 0.0, 0.0, None, _NOWHERE

        # 4. Judge each moving region as a whole (pieces of one object joined).
        count, labels = cv2.connectedComponents(
            cv2.dilate(inc.moving.view(np.uint8), _REGION), connectivity=8
        )

        def per_region(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
            w = None if weights is None else weights[mask]
            return np.bincount(labels[mask], weights=w, minlength=count)

        # A rebound is proven by a reliable flow leaving backwards. A halt (the flow reads
        # "stopped", which is also what a failed flow reads) must be confirmed: next frame
        # little in the region moves at a speed comparable to its arrival (slow jitter such
        # as a keyframe's requantised edges is not motion going on).
        rebound = stop & reliable & (along < -grid.speed(cfg.move_speed, cfg.flow_noise_px))
        halted = stop & ~rebound
        arrival = per_region(stop, sin) / np.maximum(per_region(stop), 1)
        going_on = inc_next.moving & (
            ~inc_next.reliable | (inc_next.speed > 0.25 * arrival[labels])
        )
        at_rest = per_region(going_on) <= 0.25 * per_region(inc.moving)
        n_stop = per_region(rebound) + np.where(at_rest, per_region(halted), 0)
        s_stop = per_region(rebound, decel) + np.where(at_rest, per_region(halted, decel), 0.0)
        n_fast, n_leaving = per_region(fast), per_region(leaving)
        # Most of what arrived fast stopped; it is not going out of view; and it was not going
        # out of view the frame before either (what remains then is flow smeared onto the
        # background it uncovered).
        came = before.reliable & before.changed & (before.speed > impact_speed)
        went = came & ~grid.stays(before.back, before.margin)
        keep = (n_stop > 0) & (n_stop >= cfg.impact_fraction * n_fast)
        keep &= n_leaving <= 0.25 * (n_fast + n_leaving)
        keep &= per_region(went) <= 0.25 * per_region(came)
        # What arrived at a frame edge, heading for it, is going out of view.
        vx, vy = per_region(arrived, vin[..., 0]), per_region(arrived, vin[..., 1])
        for side, heading in zip(grid.sides(inc.margin), (-vx, vx, -vy, vy), strict=True):
            keep &= ~((per_region(side & arrived) > 0) & (heading > 0))
        # A motion that was already slowing down (an eased stop, a cup set down) ends softly:
        # what stops must arrive at least ``impact_steady`` times as fast as it moved a frame
        # earlier (read where each pixel came from).
        if cfg.impact_steady > 0:
            mx, my = grid.x + inc.back[..., 0], grid.y + inc.back[..., 1]
            earlier = cv2.remap(
                before.speed, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            keep &= per_region(stop, sin) >= cfg.impact_steady * per_region(stop, earlier)
        keep[0] = False  # the background
        pixels = int(n_stop[keep].sum())
        if pixels < cfg.impact_area * stop.size:
            return 0.0, 0.0, None, _NOWHERE
        total = float(s_stop[keep].sum())
        kept = keep[labels]
        held = halted & kept & at_rest[labels]
        halt = _Halt(held, vin, sin) if held.sum() > (rebound & kept).sum() else None
        ys, xs = np.nonzero(stop & kept)
        where = (
            float(xs.mean()) / grid.w,
            float(ys.mean()) / grid.h,
            float(vin[ys, xs, 0].mean()),
            float(vin[ys, xs, 1].mean()),
            float((inc.moving & kept).mean()),
        )
        return total / stop.size, total / pixels, halt, where

    def _resumes(self, halt: _Halt, later: _Incoming) -> bool:
        """Did what halted at frame t go on the same way at t + 2 (``later``: how frame t + 2
        arrived)? Then it stuttered (a drift the flow reads in flickers, a codec's skipped
        block), it did not hit anything: an impact leaves its object at rest or sends it back.
        Read on the pixels that halted, where the flow at t + 2 is reliable."""
        seen = halt.mask & later.reliable
        if seen.sum() < 0.5 * halt.mask.sum():
            return False  # too little to tell
        vin, sin = halt.velocity[seen], halt.speed[seen]
        along = (later.velocity[seen] * vin).sum(axis=1) / np.maximum(sin, 1e-6)
        return float(along.mean()) >= self.config.resume_fraction * float(sin.mean())

    # 2. Decisions: impacts, continuous runs, activity.

    def _decide(self, ev: _Evidence, rate: float, found: list[Contact] | None = None) -> Detection:
        cfg = self.config
        n = len(ev.moving)
        span = max(1, int(round(cfg.impact_span_s * rate)))
        impact_floor = cfg.impact_area * cfg.impact_speed
        notes: list[str] = []
        cuts = [t for t in range(1, n) if ev.unmatched[t] >= cfg.cut_unmatched]
        if cuts:
            notes.append(f"hard cut(s) inside the frames at {cuts}: no evidence there")

        impacts = []
        for t in range(n):  # the stream zeroed what its context could not judge
            s = ev.impact[t]
            if s < impact_floor:
                continue
            # One impact per stop: keep the strongest within a couple of frames.
            lo, hi = max(0, t - 2), min(n, t + 3)
            if s < ev.impact[lo:hi].max() or (ev.impact[lo:t] >= s).any():
                continue
            impacts.append(t)

        # Motion that lasts: a median over ~0.1 s drops single-frame flickers of noise.
        active = _running_median(ev.moving, max(1, int(round(0.05 * rate)))) >= cfg.move_area
        for c in cuts:
            active[c] = False
        active = _close_gaps(active, max(1, int(round(cfg.max_gap_s * rate))))
        min_len = max(2, int(round(cfg.min_continuous_s * rate)))

        # Each candidate's confidence from its evidence (calibration.py), then the rules.
        rejected: Counter[str] = Counter()
        candidates: list[Candidate] = []
        kept: list[int] = []
        strength: dict[int, float] = {}
        for t in impacts:
            raw = float(1.0 - np.exp(-ev.impact_speed[t] / 1.5))
            features = flow_features(ev, t, raw)
            strength[t] = self.calibration.confidence(FLOW, features)
            why = impact_verdict(ev, t, strength[t], rate, cfg)
            candidates.append(Candidate(t, FLOW, features, strength[t], why))
            rejected[why] += bool(why)
            if not why:
                kept.append(t)
        # Small fast objects' contacts (objects.py), where the flow has none of its own.
        small: list[Contact] = []
        for c in found or []:
            features = contact_features(c)
            c = replace(c, confidence=self.calibration.confidence(SMALL, features))
            why = contact_verdict(ev, c, cfg)
            candidates.append(Candidate(c.t, SMALL, features, c.confidence, why))
            rejected[why] += bool(why)
            if not why:
                small.append(c)
        del rejected[""]
        for c in small:
            near = [t for t in kept if abs(t - c.t) <= 2]
            if not near:
                kept.append(c.t)
                strength[c.t] = c.confidence
            elif c.confidence > strength[near[0]]:
                strength[near[0]] = c.confidence
        kept.sort()
        impacts = sorted(set(impacts) | {c.t for c in small})  # (an approach ends there)
        intervals: list[EventInterval] = []
        for t in kept:
            intervals.append(EventInterval(t, min(n, t + span), False, strength[t], "impact"))
        runs: list[Run] = []
        for a, b in _runs(active):
            # Motion up to an impact (and through its span) is the impact's approach.
            ends = [t for t in impacts if a <= t < b + 1]
            if ends:
                a = max(a, max(ends) + span)
            if b - a < min_len:
                continue
            # Something that enters or leaves through the frame's edge passes by.
            k = max(3, int(round(0.1 * rate)))
            share = np.where(
                ev.moving >= cfg.move_area, ev.at_edge / np.maximum(ev.moving, 1e-9), 0
            )
            edge = max(share[a : a + k].max(), share[max(a, b - k) : b].max())
            runs.append(Run(a, b, "pass-by" if edge >= 0.2 else "slide"))
        good, rejected_runs = judge_runs(ev, runs, cfg)
        rejected.update(rejected_runs)
        for run in good:
            a, b = run.start, run.end
            level = float(1.0 - np.exp(-np.mean(ev.speed[a:b]) / 0.5))
            intervals.append(EventInterval(a, b, True, level, run.label))
        intervals.sort(key=lambda iv: (iv.onset, iv.end))

        activity = np.zeros(n, dtype=bool)
        for iv in intervals:
            activity[iv.onset : iv.end] = True
        scores = np.maximum(ev.impact / impact_floor, ev.moving / cfg.move_area).astype(np.float32)
        scores[cuts] = 0.0
        candidates.sort(key=lambda c: c.onset)
        rejected_by = {k: v for k, v in sorted(rejected.items()) if v}
        return Detection(activity, intervals, scores, notes, rejected_by, candidates)


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
        self._full_before: np.ndarray | None = None  # frame t-1 grey at analysis size

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
        dis = _thread_flow(self._size)
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
        if self._prev_in is not None and self._full_before is not None:
            # Small objects at frame t: three frames, none across a cut.
            if max(rows[-1].unmatched, rows[-2].unmatched) < cfg.cut_unmatched:
                back = self._scaled(self._prev_in.model)
                fwd = cv2.invertAffineTransform(self._scaled(inc.model))
                rows[-2].blobs = find_blobs(
                    self._full_before, pair.prev_full, pair.cur_full, back, fwd
                )
        self._full_before = pair.prev_full
        self._before, self._prev_in = self._prev_in, inc

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
        blobs = [r.blobs for r in rows]
        if before < 1:
            blobs[0] = NONE
        if after < 1:
            blobs[-1] = NONE
        assert self._shape is not None
        found = []
        if self.detector.config.small_objects:
            found = contacts(blobs, self.rate, self._shape[1], self._shape[0])
        return self.detector._decide(ev, self.rate, found)


_MIN_SIDE = 16
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

    @classmethod
    def of(cls, rows: list[_Row]) -> _Evidence:
        def column(name: str) -> np.ndarray:
            return np.array([getattr(r, name) for r in rows], dtype=float)

        names = ("moving", "speed", "at_edge", "camera", "unmatched", "impact", "impact_speed")
        names += ("level", "dark", "coherence", "stop_area")
        stop = np.array([(r.stop_x, r.stop_y, r.stop_vx, r.stop_vy) for r in rows], dtype=float)
        face = np.array([r.face for r in rows], dtype=float)
        cells = np.stack([_NO_CELLS if r.cells is None else r.cells for r in rows])
        return cls(*(column(n) for n in names), stop, face, cells)

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
        noise = float(np.median(diff[::2, ::2]))
        out = diff > max(level, 4.0 * noise + level / 2)
        margin = int(np.ceil(float(np.abs(shift).max()))) + 1
        out[:margin] = out[-margin:] = False
        out[:, :margin] = out[:, -margin:] = False
        return out, margin

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


_local = threading.local()


def _thread_flow(size: tuple[int, int]) -> cv2.DISOpticalFlow:
    """This thread's flow object for pictures of ``size``: one may not be used by two threads
    at once, and one that has seen a tiny picture keeps its finest scale lowered for good
    (its results on other sizes change)."""
    flows = getattr(_local, "flows", None)
    if flows is None:
        flows = _local.flows = {}
    if size not in flows:
        flows[size] = _make_flow()
    return flows[size]


def _make_flow() -> cv2.DISOpticalFlow:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    # Finer than the preset (whose scale 2 loses small objects) and without the variational
    # smoothing, which drags a fast object's flow towards what it hits.
    dis.setFinestScale(1)
    dis.setPatchStride(3)
    dis.setVariationalRefinementIterations(0)
    return dis


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


@dataclass(frozen=True)
class MotionOptions:
    """What ``--detector motion:KEY=VALUE,...`` may set."""

    min_confidence: float = MotionConfig.min_confidence  # impacts less likely are not reported
    small_objects: bool = True  # the path that tracks small fast objects to their contact


def build_motion(arg: str | None = None) -> MotionDetector:
    """The registry factory: ``motion`` or ``motion:min_confidence=0.5,small_objects=0``."""
    from sonicvision.server.models.spec import apply_options, split_spec

    _, raw = split_spec(f",{arg or ''}", "detector")
    options = apply_options(MotionOptions(), raw, "detector")
    if not 0.0 <= options.min_confidence <= 1.0:
        raise ConfigError(
            f"min_confidence is {options.min_confidence}; it must be in [0, 1]",
            field="detector.min_confidence",
        )
    config = replace(MotionConfig(), small_objects=options.small_objects)
    return MotionDetector(config, min_confidence=options.min_confidence)
