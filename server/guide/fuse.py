"""The picture's cues and the guide audio's transients, judged together for one shot.

* A visual impact with a transient within ``window_frames``: confirmed, high confidence,
  and its onset moves to the transient's first sample (the sound was there). A continuous
  cue (a slide) has no attack to place: a transient at its start confirms nothing.
* A strong transient where the picture found no cue but its motion changes abruptly in the
  same frames (a contact stops or throws something: the detector's evidence jumps far beyond
  its own frame-to-frame run over the second around, on motion that lasts two frames at
  least; steady motion, a camera move, a still picture or a one-frame pop such as text
  appearing under a keystroke is off-screen sound or the score): a cue of its own. Over speech only
  a transient that stands far out of it; under music only one that rises far above it.
* A visual impact under clean guide audio with no transient near it: lower confidence (a
  sound-making contact would have been heard). Continuous cues (a slide) keep theirs.
* Where the guide is silent, absent, or speech and music cover the moment, the picture's
  result stands.

In ``only`` mode the transients alone make the cues (the picture's are dropped), those over
speech or music only where they stand far out of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import opentimelineio as otio

from sonicvision.events import Shot

from ..detect.base import Detection, EventInterval
from .find import GuideSource
from .transients import GuideAudio, Transient

RationalTime = otio.opentime.RationalTime

PICTURE, BOTH, AUDIO = "picture", "picture+audio", "audio"


@dataclass(frozen=True)
class GuidedInterval(EventInterval):
    """An interval that knows what placed it and, when the sound placed it, its exact onset
    in timeline time (a sample of the guide audio)."""

    placed_by: str = PICTURE
    onset_time: RationalTime | None = None


@dataclass(frozen=True)
class FuseConfig:
    window_frames: float = 3.0
    confirmed: float = 0.9  # confidence at least this when picture and sound agree
    unheard: float = 0.5  # confidence times this for an impact clean sound did not hear
    audio_only: float = 0.7  # confidence of a cue the sound made where the picture moved
    motion_floor: float = 0.5  # detector evidence (scores, 1 = its threshold) that counts as motion
    # A contact in the same frames: the largest frame-to-frame change of the detector's
    # evidence there at least this many times its median change over the second around
    # (and this many motion floors): motion that is only steady (a pan, a walk, a flutter)
    # does not hit anything at that moment.
    jump_k: float = 4.0
    around_s: float = 1.0
    span_s: float = 0.2  # an impact's span, as the detector gives it
    # Over speech (and vocal sounds) a cue of the sound's own needs a transient this far out
    # of it (flux over its local 90th percentile): consonants are broadband too.
    speech_standout: float = 7.0
    # Under music (sustained harmonics, its drums in the percussive part) a cue of the sound's
    # own needs a rise this far above the local percussive background (the "strong" rise is
    # for room tone); the score's accents rise less above its own run.
    music_rise_db: float = 30.0


@dataclass
class FuseStats:
    confirmed: int = 0
    added: int = 0
    lowered: int = 0
    dropped: int = 0  # picture cues left out in "only" mode
    transients: int = 0
    heard: list[str] = field(default_factory=list)  # sources that were not silent


@dataclass(frozen=True)
class _Hit:
    frame: float  # shot-relative, fractional
    transient: Transient
    onset: RationalTime


def _hits(shot: Shot, guides: list[tuple[GuideSource, GuideAudio]]) -> list[_Hit]:
    fps = shot.media_rate * shot.speed
    start = shot.record_range.start_time.to_seconds()
    out = []
    for source, audio in guides:
        for tr in audio.transients:
            frame = source.first + tr.time_s * source.frame_rate
            if not source.first <= frame < source.first + source.count:
                continue
            rate = audio.sample_rate  # the segment's first sample plays at shot frame first
            first = round((start + source.first / fps) * rate)
            out.append(_Hit(frame, tr, RationalTime(first + tr.sample, rate)))
    return sorted(out, key=lambda h: h.frame)


def _clean(guides: list[tuple[GuideSource, GuideAudio]], frame: float, window: float) -> bool:
    for source, audio in guides:
        if source.first <= frame < source.first + source.count:
            t0 = (frame - window - source.first) / source.frame_rate
            t1 = (frame + window - source.first) / source.frame_rate
            return audio.clean_at(max(0.0, t0), t1)
    return False


def fuse(
    shot: Shot,
    detection: Detection | None,
    guides: list[tuple[GuideSource, GuideAudio]],
    mode: str = "auto",
    config: FuseConfig | None = None,
) -> tuple[Detection | None, FuseStats]:
    """The shot's detection with the guide audio's evidence applied (see the module)."""
    cfg = config or FuseConfig()
    stats = FuseStats()
    hits = _hits(shot, guides)
    stats.transients = len(hits)
    if not guides or all(audio.silent for _, audio in guides):
        if mode == "only" and detection is not None:  # no sound, no cue
            stats.dropped = len(detection.intervals)
            return replace(
                detection, intervals=[], activity=np.zeros_like(detection.activity)
            ), stats
        return detection, stats
    count = shot.frame_count
    span = max(1, round(cfg.span_s * shot.media_rate * shot.speed))
    visual = list(detection.intervals) if detection is not None else []
    out: list[EventInterval] = []
    taken: set[int] = set()
    if mode == "only":
        stats.dropped = len(visual)
        visual = []
    # 1. Each visual cue takes the nearest free transient within the window.
    pairs = sorted(
        (abs(h.frame - iv.onset), i, j)
        for i, iv in enumerate(visual)
        for j, h in enumerate(hits)
        if not iv.continuous and abs(h.frame - iv.onset) <= cfg.window_frames
    )
    match: dict[int, int] = {}
    for _, i, j in pairs:
        if i not in match and j not in taken:
            match[i] = j
            taken.add(j)
    for i, iv in enumerate(visual):
        if i in match:
            hit = hits[match[i]]
            onset = min(count - 1, max(0, math.floor(hit.frame)))
            end = max(onset + 1, onset + iv.end - iv.onset)
            out.append(
                GuidedInterval(
                    onset,
                    min(count, end),
                    iv.continuous,
                    max(iv.strength, cfg.confirmed),
                    iv.motion,
                    placed_by=BOTH,
                    onset_time=hit.onset,
                )
            )
            stats.confirmed += 1
        elif not iv.continuous and _clean(guides, iv.onset, cfg.window_frames):
            out.append(_as_guided(replace(iv, strength=iv.strength * cfg.unheard)))
            stats.lowered += 1
        else:
            out.append(_as_guided(iv))
    # 2. Strong transients the picture did not claim, where something moves on screen.
    scores = detection.scores if detection is not None else None
    for j, hit in enumerate(hits):
        if j in taken:
            continue
        onset = min(count - 1, max(0, math.floor(hit.frame)))
        if not _above_its_context(hit.transient, cfg):
            continue  # in every mode: speech and the score make no cue
        if mode != "only":
            if not hit.transient.strong or scores is None or not len(scores):
                continue
            if not _contact_motion(np.asarray(scores, dtype=float), onset, shot.media_rate, cfg):
                continue
        out.append(
            GuidedInterval(
                onset,
                min(count, onset + span),
                False,
                cfg.audio_only,
                "impact",
                placed_by=AUDIO,
                onset_time=hit.onset,
            )
        )
        stats.added += 1
    out.sort(key=lambda iv: iv.onset)
    activity = np.zeros(count, dtype=bool)
    for iv in out:
        activity[iv.onset : iv.end] = True
    if detection is None:
        return Detection(activity, out), stats
    if mode != "only" and detection.activity is not None:
        before = np.asarray(detection.activity, dtype=bool)[:count]
        activity[: len(before)] |= before
    return replace(detection, activity=activity, intervals=out), stats


def _above_its_context(tr: Transient, cfg: FuseConfig) -> bool:
    """Does a transient over speech or music stand far enough out of it to be a cue?"""
    if tr.context == "speech":
        return tr.standout >= cfg.speech_standout
    if tr.context == "music":
        return tr.rise_db >= cfg.music_rise_db
    return True


def _contact_motion(scores: np.ndarray, onset: int, rate: float, cfg: FuseConfig) -> bool:
    """Does the picture's motion change abruptly within ``window_frames`` of ``onset``? Motion
    on two frames running at least (what hits moved there), its change far beyond its run."""
    w = int(cfg.window_frames)
    lo, hi = max(0, onset - w - 1), min(len(scores), onset + w + 1)
    moving = scores[lo:hi] >= cfg.motion_floor
    if not (moving[1:] & moving[:-1]).any():
        return False  # still, or a one-frame pop (text appearing, a flash): nothing moved
    change = np.abs(np.diff(scores))
    near = change[lo : hi - 1]
    reach = max(1, round(cfg.around_s * rate))
    around = np.concatenate([change[max(0, lo - reach) : lo], change[hi - 1 : hi - 1 + reach]])
    usual = max(float(np.median(around)) if len(around) else 0.0, cfg.motion_floor)
    return float(near.max()) >= cfg.jump_k * usual


def _as_guided(iv: EventInterval) -> GuidedInterval:
    if isinstance(iv, GuidedInterval):
        return iv
    return GuidedInterval(iv.onset, iv.end, iv.continuous, iv.strength, iv.motion)
