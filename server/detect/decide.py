"""Judging one shot's evidence: its impacts and continuous runs, each candidate's calibrated
confidence, and the rules that turn candidates down (reject.py). The motion detector
(motion.py) measures the evidence frame by frame (evidence.py, motion_stream.py); this
reads it whole, once per shot."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from sonicvision.server.detect.base import Candidate, Detection, EventInterval
from sonicvision.server.detect.calibration import (
    FLOW,
    SMALL,
    Calibration,
    contact_features,
    flow_features,
)
from sonicvision.server.detect.evidence import _close_gaps, _Evidence, _running_median, _runs
from sonicvision.server.detect.objects import Contact
from sonicvision.server.detect.reject import Run, contact_verdict, impact_verdict, judge_runs

if TYPE_CHECKING:
    from sonicvision.server.detect.motion_config import MotionConfig

logger = logging.getLogger(__name__)


def decide(
    cfg: MotionConfig,
    calibration: Calibration,
    ev: _Evidence,
    rate: float,
    found: list[Contact] | None = None,
) -> Detection:
    """The shot's result from its evidence and its small objects' contacts ``found``."""
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
        strength[t] = calibration.confidence(FLOW, features)
        why = impact_verdict(ev, t, strength[t], rate, cfg, kept)
        candidates.append(Candidate(t, FLOW, features, strength[t], why))
        rejected[why] += bool(why)
        if not why:
            kept.append(t)
    # Small fast objects' contacts (objects.py), where the flow has none of its own.
    small: list[Contact] = []
    for c in found or []:
        features = contact_features(c)
        c = replace(c, confidence=calibration.confidence(SMALL, features))
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
        share = np.where(ev.moving >= cfg.move_area, ev.at_edge / np.maximum(ev.moving, 1e-9), 0)
        edge = max(share[a : a + k].max(), share[max(a, b - k) : b].max())
        runs.append(Run(a, b, "pass-by" if edge >= 0.2 else "slide"))
    good, rejected_runs = judge_runs(ev, runs, rate, cfg)
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
