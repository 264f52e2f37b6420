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
from dataclasses import dataclass, replace

import cv2
import numpy as np

from sonicvision.errors import ConfigError
from sonicvision.server.detect.base import Detection, Detector
from sonicvision.server.detect.calibration import Calibration
from sonicvision.server.detect.camera import camera_flow, camera_model
from sonicvision.server.detect.decide import decide
from sonicvision.server.detect.evidence import (
    _KERNEL,
    _NOWHERE,
    _REGION,
    _Evidence,
    _Grid,
    _Halt,
    _Incoming,
    _Structure,
)
from sonicvision.server.detect.motion_config import IMPACT_SPAN_S, MotionConfig
from sonicvision.server.detect.motion_stream import MotionStream, _calibration, _shared_pool
from sonicvision.server.detect.objects import Contact

__all__ = ["IMPACT_SPAN_S", "MotionConfig", "MotionDetector", "MotionStream", "build_motion"]

logger = logging.getLogger(__name__)


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
        # The camera's mean flow: OpenCV's per-channel mean (in double) is ~90x numpy's
        # over two axes of a float32 field, which cost 3% of the detector.
        mean = np.array(cv2.mean(camera)[:2], np.float32)
        return _Incoming(
            -mean * grid.to_speed,
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

    def _flow(self, size: tuple[int, int]) -> cv2.DISOpticalFlow:
        """This thread's flow object for pictures of ``size`` (see ``_thread_flow``)."""
        return _thread_flow(size)

    # 2. Decisions: impacts, continuous runs, activity (decide.py).

    def _decide(self, ev: _Evidence, rate: float, found: list[Contact] | None = None) -> Detection:
        return decide(self.config, self.calibration, ev, rate, found)


_MIN_SIDE = 16


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
