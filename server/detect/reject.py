"""Candidates that make no sound: the rules that turn motion evidence down, and why.

The motion detector finds where something stops or keeps moving. Much of what stops or moves
on screen is silent, and a sound editor deletes a track that puts a hit on every wing beat.
Each rule here names what it rejects, so a shot's report can say how many candidates went
and why (``Detection.rejected``):

* ``transition``: the picture fades, dissolves or irises: its mean level or its share of
  black changes steadily over the frames around the candidate, and keeps what it gains (a
  flash or a flicker, brighter and darker by turns, is none) (for a run of motion: on at
  least half of its frames).
* ``face``: the stop is on a face (OpenCV's Haar cascades, frontal and profile, where the
  installed OpenCV has them; 5.x does not): speech, expressions, nods.
* ``periodic``: the same place moved back and forth at least three times within half a
  second each side (a wing flap, waving, a pendulum), each way at ``periodic_speed`` at
  least and at 0.3 of the stop's arrival speed (a small wing's back-stroke reads at a
  third of its down-stroke at flow size). A contact reverses a motion once; a ball bouncing
  on the floor reverses it at the floor only, and its flights are long.
* ``large region``: the regions that stopped move over more than ``impact_region`` of the
  frame (a body, a face, a close-up turning); flow impacts only.
* ``no steady approach``: on one of the two frames before the stop the place did not move
  along the arrival direction at ``impact_approach`` of the arrival speed: a gesture that
  starts and stops within a few frames, not a thing that flew or fell into something; flow
  impacts only (small objects are tracked along their path in objects.py).
* ``soft stop``: a flow stop losing less than ``impact_soft`` of speed that is not the
  rebound of a harder stop at the same place within ``rebound_s`` (a ball's later bounces,
  each softer than the last). On its own a soft stop is a motion easing out: a mouth
  closing, an arm coming to rest, a wing at the end of its beat. Something that strikes
  hard enough to be heard stops hard the first time.
* ``nothing to strike``: a small object bounced or came to rest where the picture around
  it was flat the frame before (``contact_ground``): empty space, or a screen's pointer
  stopping over a plain background. Nothing there to meet, and nothing that sounds.
* ``low confidence``: below ``min_confidence``.

Continuous candidates (runs of motion):

* a **pass-by** is kept only for a large object (at least ``passby_area`` of the frame moving)
  crossing fast (``passby_speed``: across the frame within two seconds): close to the camera.
  ``goes nowhere``: it must cross, its motion adding up to ``passby_travel`` of the width
  one way (``slide_straight``): a character ducking out of the frame, a close-up swaying,
  moves fast and large about one place. ``walking``: the bottom of what passes stays
  behind on ``gait_frames`` frames or more (under ``gait_planted`` of its top's speed, or
  going back) while the top goes on: a walker's foot planted. Locomotion is footsteps or
  nothing, never a whoosh.
* a **slide** is kept only for one thing moving rigidly (``slide_coherence``), from rest to
  rest inside the shot, over less than ``slide_area`` of the picture: sustained contact
  motion. Walkers (their limbs go different ways), a talking head, a background seen through
  a window and motion already going on when the shot starts are not slides; nor is motion
  in separate places of the picture on more than ``slide_scattered`` of the run's frames
  (several walkers). ``unsteady``: a run whose moving area swings by more than
  ``slide_steady`` of its median from one frame to the next (the median change), or that
  moves on fewer than ``slide_sustained`` of its frames (gaps bridged): a walker (the gait),
  a pointer moving in jerks. Locomotion is footsteps or nothing, never a scrape.
  ``goes nowhere``: a slide carries something along a surface, one way: its motion (the
  moving cells' mean velocity, frame by frame) adds up to at least ``slide_travel`` of the
  width, at ``slide_straight`` of its path length. A body swaying, a head turning, a bird
  bobbing on its branch, a character bending down and up moves about one place.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from sonicvision.server.detect.objects import Contact

logger = logging.getLogger(__name__)


class RejectConfig(Protocol):
    """The thresholds the rules read (``MotionConfig`` has them)."""

    impact_speed: float
    min_confidence: float
    periodic_reversals: int
    periodic_speed: float
    periodic_share: float
    passby_area: float
    passby_speed: float
    passby_travel: float
    gait_planted: float
    gait_frames: int
    slide_coherence: float
    slide_area: float
    slide_scattered: float
    slide_steady: float
    slide_sustained: float
    slide_travel: float
    slide_straight: float
    move_area: float
    contact_ground: float
    impact_region: float
    impact_approach: float
    impact_soft: float
    rebound_s: float


class Evidence(Protocol):
    """Per-frame arrays of one shot (``evidence._Evidence``)."""

    moving: np.ndarray
    speed: np.ndarray
    impact_speed: np.ndarray
    level: np.ndarray
    dark: np.ndarray
    coherence: np.ndarray
    stop_area: np.ndarray
    stop: np.ndarray
    face: np.ndarray
    cells: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class Run:
    """A continuous candidate: frames ``[start, end)`` and what it looks like."""

    start: int
    end: int
    label: str  # "slide" or "pass-by"


class Faces:
    """Finds faces in a grey picture; loaded once per stream, used at candidate frames only."""

    def __init__(self) -> None:
        # OpenCV 5 wheels no longer ship the Haar cascades (nor CascadeClassifier): without
        # them this rule is off, and only the periodic and rigidity rules see faces.
        self._cascades = []
        root = getattr(getattr(cv2, "data", None), "haarcascades", "")
        if hasattr(cv2, "CascadeClassifier"):
            for name in ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml"):
                cascade = cv2.CascadeClassifier(root + name)
                if not cascade.empty():
                    self._cascades.append(cascade)
        if not self._cascades:
            logger.debug("no Haar face cascades in this OpenCV: the face rule is off")

    def boxes(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Face boxes (x, y, w, h), widened to take in the chin, mouth and hands at the face."""
        h, w = gray.shape
        least = max(16, min(h, w) // 10)
        out = []
        for cascade in self._cascades:
            for x, y, bw, bh in cascade.detectMultiScale(
                gray, scaleFactor=1.15, minNeighbors=4, minSize=(least, least)
            ):
                out.append((int(x - bw // 4), int(y - bh // 4), int(bw * 1.5), int(bh * 1.75)))
        return out

    def covers(self, gray: np.ndarray, fx: float, fy: float) -> bool:
        """Is the point (fractions of the frame) on a face?"""
        if not self._cascades:
            return False
        h, w = gray.shape
        px, py = fx * w, fy * h
        return any(x <= px <= x + bw and y <= py <= y + bh for x, y, bw, bh in self.boxes(gray))


def is_transition(ev: Evidence, t: int, reach: int = 3) -> bool:
    """Does the picture fade, dissolve or iris around frame ``t``? Its mean level or black
    share goes one way over most of the ``2 * reach`` steps around it, by a visible amount,
    and keeps what it gains (its net change at least half of all its steps together): a
    picture that flashes or flickers, brighter and darker by turns (a blow's flash, a
    strobe), goes nowhere, and is no transition."""
    lo, hi = max(0, t - reach), min(len(ev.level), t + reach + 1)
    if hi - lo < 3:
        return False
    for values, least in ((ev.level, 12.0), (ev.dark, 0.04)):
        steps = np.diff(values[lo:hi])
        total = float(values[hi - 1] - values[lo])
        steady = np.mean(np.sign(steps) == np.sign(total)) >= 0.65
        kept = abs(total) >= 0.5 * float(np.abs(steps).sum())
        if abs(total) >= least and steady and kept:
            return True
    return False


def is_periodic(
    ev: Evidence, t: int, rate: float, speed: float, least: int = 3, share: float = 0.3
) -> bool:
    """Did the place of the stop at ``t`` move back and forth three times or more within half
    a second each side (read along the stop's arrival direction, in the coarse grid)?"""
    x, y, vx, vy = ev.stop[t]
    norm = float(np.hypot(vx, vy))
    if norm <= 0:
        return False
    rows, cols = ev.cells.shape[1:3]
    r, c = min(rows - 1, int(y * rows)), min(cols - 1, int(x * cols))
    near = ev.cells[:, max(0, r - 1) : r + 2, max(0, c - 1) : c + 2]
    half = max(2, int(round(0.5 * rate)))
    lo, hi = max(0, t - half), min(len(ev.cells), t + half + 1)
    along = (near[lo:hi, ..., 0] * vx + near[lo:hi, ..., 1] * vy) / norm
    # Each frame's strongest motion along that line, either way.
    k = np.abs(along).reshape(hi - lo, -1).argmax(axis=1)
    p = along.reshape(hi - lo, -1)[np.arange(hi - lo), k]
    # Motion counts when it is comparable to the stop's own arrival and above ``speed`` (a
    # flap beats both ways at a good share of its speed; the flow's jitter on a slow drift
    # does not reach it).
    signs = np.sign(p[np.abs(p) > max(speed, share * norm)])
    changes = int(np.count_nonzero(np.diff(signs)))
    return changes >= least


def approach(ev: Evidence, t: int, frames: int = 2) -> float:
    """How steadily the place of the stop at ``t`` came: on the worst of the ``frames``
    frames before, its motion along the arrival direction as a share of the arrival speed
    (coarse grid, the cell and its neighbours). A shot's first frames have no history: 1."""
    x, y, vx, vy = ev.stop[t]
    norm = float(np.hypot(vx, vy))
    if norm <= 0 or t < frames:
        return 1.0
    rows, cols = ev.cells.shape[1:3]
    r, c = min(rows - 1, int(y * rows)), min(cols - 1, int(x * cols))
    near = ev.cells[t - frames : t, max(0, r - 1) : r + 2, max(0, c - 1) : c + 2]
    along = (near[..., 0] * vx + near[..., 1] * vy) / norm
    return float(along.reshape(frames, -1).max(axis=1).min() / norm)


def approached(ev: Evidence, t: int, least: float, frames: int = 2) -> bool:
    """Did the place of the stop at ``t`` move along its arrival direction, at ``least`` of
    the arrival speed, on each of the ``frames`` frames before (see :func:`approach`)?"""
    return approach(ev, t, frames) >= least


def rebound(ev: Evidence, t: int, earlier: list[int], rate: float, cfg: RejectConfig) -> bool:
    """Is the stop at ``t`` the rebound of a harder one among ``earlier`` (frames of the
    impacts kept before it): within ``rebound_s`` and near the same place?"""
    x, y = ev.stop[t][:2]
    for e in earlier:
        if 0 < t - e <= cfg.rebound_s * rate and ev.impact_speed[e] > ev.impact_speed[t]:
            ex, ey = ev.stop[e][:2]
            if abs(ex - x) <= 0.2 and abs(ey - y) <= 0.3:
                return True
    return False


def impact_verdict(
    ev: Evidence,
    t: int,
    confidence: float,
    rate: float,
    cfg: RejectConfig,
    earlier: list[int] | None = None,
) -> str:
    """The rule that turns the flow impact at ``t`` down, or "" (see the module's notes).
    ``earlier``: the shot's impacts kept before ``t`` (a soft stop may be their rebound)."""
    if is_transition(ev, t):
        return "transition"
    if ev.face[t] > 0:
        return "face"
    if is_periodic(ev, t, rate, cfg.periodic_speed, cfg.periodic_reversals, cfg.periodic_share):
        return "periodic"
    if ev.stop_area[t] > cfg.impact_region:
        return "large region"
    if not approached(ev, t, cfg.impact_approach):
        return "no steady approach"
    if ev.impact_speed[t] < cfg.impact_soft and not rebound(ev, t, earlier or [], rate, cfg):
        return "soft stop"
    if confidence < cfg.min_confidence:
        return "low confidence"
    return ""


def contact_verdict(ev: Evidence, c: Contact, cfg: RejectConfig) -> str:
    """The rule that turns a small object's contact down, or "". No face rule: a separate
    object that flew in and struck a face is a contact."""
    if is_transition(ev, c.t):
        return "transition"
    if c.periodic:
        return "periodic"
    if c.kind != "struck" and c.ground < cfg.contact_ground:
        return "nothing to strike"
    if c.confidence < cfg.min_confidence:
        return "low confidence"
    return ""


def scattered(ev: Evidence, run: Run, cfg: RejectConfig) -> bool:
    """Does the motion of ``run`` sit in separate places of the coarse grid on more than
    ``slide_scattered`` of its frames? Several things moving at once (walkers, a crowd) are
    not one thing sliding."""
    frames = ev.cells[run.start : run.end]
    if not len(frames):
        return False
    moving = (np.abs(frames).sum(axis=-1) > 0).astype(np.uint8)
    parts = [cv2.connectedComponents(m, connectivity=8)[0] - 1 for m in moving]
    return float(np.mean(np.array(parts) > 1)) > cfg.slide_scattered


def steady(ev: Evidence, run: Run, cfg: RejectConfig) -> bool:
    """Does ``run`` move on most of its frames (``slide_sustained`` of them, the gaps it
    bridged aside), with a moving area that holds from frame to frame (its typical change,
    the median over the run, under ``slide_steady`` of its typical size)? One rigid thing
    sliding shows about as much of itself on each frame as on the one before; a walker's
    moving area swings with the gait, a pointer moves in jerks with still frames between.
    (Medians: a flicker bridged into the run's first frames does not count.)"""
    area = ev.moving[run.start : run.end]
    if len(area) < 2:
        return True
    if float(np.mean(area >= cfg.move_area)) < cfg.slide_sustained:
        return False
    return float(np.median(np.abs(np.diff(area)))) <= cfg.slide_steady * float(np.median(area))


def _steps(ev: Evidence, run: Run) -> np.ndarray:
    """Each frame's mean velocity of the moving cells of the coarse grid, over ``run``."""
    cells = ev.cells[run.start : run.end]
    on = np.abs(cells).sum(axis=-1) > 0
    return np.array(
        [c[m].mean(axis=0) if m.any() else np.zeros(2) for c, m in zip(cells, on, strict=True)]
    ).reshape(-1, 2)


def travel(ev: Evidence, run: Run, rate: float) -> tuple[float, float]:
    """Where the motion of ``run`` went: (net displacement in widths, that over its path
    length), from each frame's mean velocity of the moving cells of the coarse grid."""
    steps = _steps(ev, run)
    if not len(steps):
        return 0.0, 0.0
    path = float(np.hypot(steps[:, 0], steps[:, 1]).sum())
    net = float(np.hypot(*steps.sum(axis=0)))
    return net / rate, net / path if path > 0 else 0.0


def goes_somewhere(ev: Evidence, run: Run, rate: float, cfg: RejectConfig) -> bool:
    """Does ``run`` carry something ``slide_travel`` of the width (a pass-by:
    ``passby_travel``), one way (see ``travel``)?"""
    distance, straight = travel(ev, run, rate)
    least = cfg.passby_travel if run.label == "pass-by" else cfg.slide_travel
    return distance >= least and straight >= cfg.slide_straight


def walks(ev: Evidence, run: Run, rate: float, cfg: RejectConfig) -> bool:
    """Does what moves in ``run`` walk? Read along the run's way, on ``gait_frames`` frames
    its lowest quarter (by height) stays behind while its top goes on at ``passby_speed``:
    under ``gait_planted`` of the top's speed, or going back. A foot planted as the body
    goes over it; a rigid thing's bottom goes with its top (a flat bottom edge reads slower,
    the aperture, but not standing)."""
    net = _steps(ev, run).sum(axis=0)
    norm = float(np.hypot(*net))
    if norm <= 0:
        return False
    way = net / norm
    low, high = ev.low[run.start : run.end] @ way, ev.high[run.start : run.end] @ way
    # Not while it enters or leaves (the run's first and last 0.1 s): part of it is out of
    # view and the margin the camera's motion needs cuts it, so its ends read anyhow.
    k = max(3, int(round(0.1 * rate)))
    planted = (high >= cfg.passby_speed) & (low < cfg.gait_planted * high)
    return int(planted[k:-k].sum()) >= cfg.gait_frames


def in_transition(ev: Evidence, run: Run) -> bool:
    """Is a run of motion the picture fading or irising, on most of its frames? (An iris's
    closing edge sweeps the frame like a large thing passing.)"""
    frames = range(run.start, run.end)
    return sum(is_transition(ev, t) for t in frames) >= 0.5 * len(frames)


def judge_runs(
    ev: Evidence, runs: list[Run], rate: float, cfg: RejectConfig
) -> tuple[list[Run], Counter[str]]:
    """The continuous runs kept, and why the others were not (see the module's notes)."""
    n = len(ev.moving)
    kept, rejected = [], Counter[str]()
    for run in runs:
        moving = float(np.median(ev.moving[run.start : run.end]))
        speed = float(np.median(ev.speed[run.start : run.end]))
        if in_transition(ev, run):
            rejected["transition"] += 1
            continue
        if run.label == "pass-by":
            if moving < cfg.passby_area or speed < cfg.passby_speed:
                rejected["small or slow pass-by"] += 1
            elif not goes_somewhere(ev, run, rate, cfg):
                rejected["goes nowhere"] += 1
            elif walks(ev, run, rate, cfg):
                rejected["walking"] += 1
            else:
                kept.append(run)
            continue
        coherent = float(np.median(ev.coherence[run.start : run.end])) >= cfg.slide_coherence
        inside = run.start > 1 and run.end < n - 1
        if not (coherent and inside and moving < cfg.slide_area) or scattered(ev, run, cfg):
            rejected["not contact motion"] += 1
        elif not steady(ev, run, cfg):
            rejected["unsteady"] += 1
        elif not goes_somewhere(ev, run, rate, cfg):
            rejected["goes nowhere"] += 1
        else:
            kept.append(run)
    return kept, rejected
