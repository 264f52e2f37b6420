"""Production sound as a timing guide: the transients in a clip's own audio confirm, place
and add on-screen cues (``--guide-audio auto|off|only``).

``find`` says which audio plays under each shot, ``transients`` finds the hits in it that
are neither speech nor music, ``listening`` hears each shot's sound in a thread while the
picture scan goes on, ``fuse`` judges them with the picture's cues. The pipeline
calls :func:`guide_detections` between detection and description, and takes each event's
``placed_by`` and sample-exact ``onset`` from :func:`event_fields`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

import opentimelineio as otio

from sonicvision.adapters.media import MediaResolver
from sonicvision.errors import MediaError
from sonicvision.events import Shot

from ..detect.base import Detection, EventInterval
from .find import GuideSource
from .fuse import AUDIO, BOTH, PICTURE, FuseStats, GuidedInterval, fuse
from .listening import Listening, listen
from .transients import GuideAudio

logger = logging.getLogger(__name__)

__all__ = [
    "AUDIO",
    "BOTH",
    "PICTURE",
    "Guided",
    "Listening",
    "event_fields",
    "guide_detections",
    "listen",
]


@dataclass
class Guided:
    """The detections after the guide, and what it did, clip by clip, for the report."""

    detections: dict[int, Detection]
    notes: list[str] = field(default_factory=list)


def event_fields(interval: EventInterval) -> dict:
    """What a detected event takes from its interval: what placed it, and its exact onset."""
    if isinstance(interval, GuidedInterval):
        return {"placed_by": interval.placed_by, "onset": interval.onset_time}
    return {"placed_by": PICTURE}


def guide_detections(
    timeline: otio.schema.Timeline,
    shots: list[Shot],
    detections: dict[int, Detection],
    resolver: MediaResolver,
    mode: str = "auto",
    listening: Listening | None = None,
) -> Guided:
    """Every shot's detection with its guide audio's evidence applied; ``off``: unchanged.
    ``listening``: the shots' sound heard already, or being heard (the picture scan starts
    it, see listening.py); what it has not heard is heard here."""
    if mode == "off":
        return Guided(dict(detections))
    if listening is None:
        with Listening() as own:
            return guide_detections(timeline, shots, detections, resolver, mode, own)
    finder = listening.finder(timeline, resolver)
    out = dict(detections)
    per_clip: dict[str, list[tuple[Shot, list[GuideSource], FuseStats, bool]]] = defaultdict(list)
    for shot in shots:
        sources = finder.sources(shot)
        heard: list[tuple[GuideSource, GuideAudio]] = []
        for source in sources:
            try:
                heard.append((source, listening.heard(source)))
            except MediaError as exc:
                logger.warning("shot %d: guide audio unreadable: %s", shot.index, exc)
        fused, stats = fuse(shot, detections.get(shot.index), heard, mode)
        if fused is not None:
            out[shot.index] = fused
        silent = bool(heard) and all(a.silent for _, a in heard)
        per_clip[shot.clip_name].append((shot, sources, stats, silent))
    return Guided(out, [_note(clip, rows, mode) for clip, rows in per_clip.items()])


def _note(clip: str, rows: list, mode: str) -> str:
    sources = sorted({s.how for _, srcs, _, _ in rows for s in srcs})
    if not sources:
        alone = "no cues (--guide-audio only)" if mode == "only" else "cues from the picture alone"
        return f"guide audio: clip {clip!r} has none: {alone}"
    if all(silent or not srcs for _, srcs, _, silent in rows):
        return f"guide audio: clip {clip!r} ({', '.join(sources)}) is silent: picture alone"
    total = FuseStats()
    for _, _, stats, _ in rows:
        total.confirmed += stats.confirmed
        total.added += stats.added
        total.lowered += stats.lowered
        total.transients += stats.transients
    covered = sum(1 for _, srcs, _, _ in rows if srcs)
    return (
        f"guide audio: clip {clip!r} ({', '.join(sources)}; {covered}/{len(rows)} shots): "
        f"{total.transients} transients, {total.confirmed} cues confirmed and placed on "
        f"their transient, {total.added} added from the sound, {total.lowered} lowered "
        "(no transient in clean sound)"
    )
