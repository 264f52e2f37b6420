"""Production sound as a timing guide: the transients in a clip's own audio confirm, place
and add on-screen cues (``--guide-audio auto|off|only``).

``find`` says which audio plays under each shot, ``transients`` finds the hits in it that
are neither speech nor music, ``fuse`` judges them with the picture's cues. The pipeline
calls :func:`guide_detections` between detection and description, and takes each event's
``placed_by`` and sample-exact ``onset`` from :func:`event_fields`.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

import numpy as np
import opentimelineio as otio

from sonicvision.adapters.media import MediaResolver
from sonicvision.errors import MediaError
from sonicvision.events import Shot

from ..detect.base import Detection, EventInterval
from .audio import read_audio
from .find import GuideSource, find_guides
from .fuse import AUDIO, BOTH, PICTURE, FuseStats, GuidedInterval, fuse
from .transients import GuideAudio, find_transients

logger = logging.getLogger(__name__)

__all__ = [
    "AUDIO",
    "BOTH",
    "PICTURE",
    "Guided",
    "event_fields",
    "guide_detections",
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


CHUNK_S = 60.0  # a long take is heard in pieces, so its sound is never held whole
MARGIN_S = 3.0  # each piece reads this much more on both sides: local statistics need it


def listen(source: GuideSource, chunk_s: float = CHUNK_S) -> GuideAudio:
    """The transients of a source's sound, read ``chunk_s`` at a time.

    Each piece is analysed with ``MARGIN_S`` of its neighbours' sound around it, and keeps
    what lies in its own stretch; the masks are laid on one grid of blocks from the start.
    """
    start = source.file_time(source.first)
    total = source.count / source.frame_rate
    pieces: list[tuple[float, float, GuideAudio]] = []
    at = 0.0
    while at < total:
        stop = min(total, at + chunk_s)
        lo, hi = max(0.0, at - MARGIN_S), min(total, stop + MARGIN_S)
        audio, rate = read_audio(source.path, start + lo, hi - lo, source.stream)
        pieces.append((at - lo, stop - lo, find_transients(audio, rate)))
        at = stop
    return _join(pieces, total)


def _join(pieces: list[tuple[float, float, GuideAudio]], total: float) -> GuideAudio:
    first = pieces[0][2]
    if len(pieces) == 1 and pieces[0][0] == 0.0:
        return first
    block = first.block_s
    blocks = int(np.ceil(total / block)) + 1
    tonal, music = np.zeros(blocks, bool), np.zeros(blocks, bool)
    found, rejected = [], Counter()
    offset = 0.0  # seconds from the source's start to this piece's own stretch
    for keep_from, keep_to, heard in pieces:
        shift = offset - keep_from  # piece time + shift = source time
        rate = heard.sample_rate
        found += [
            replace(t, time_s=t.time_s + shift, sample=t.sample + round(shift * rate))
            for t in heard.transients
            if keep_from <= t.time_s < keep_to
        ]
        rejected.update(heard.rejected)
        if len(heard.tonal):
            rows = np.arange(
                int(offset / block),
                min(blocks, int(np.ceil((offset + keep_to - keep_from) / block))),
            )
            src = np.clip(
                np.round((rows * block - shift) / block).astype(int), 0, len(heard.tonal) - 1
            )
            tonal[rows], music[rows] = heard.tonal[src], heard.music[src]
        offset += keep_to - keep_from
    silent = all(h.silent for _, _, h in pieces)
    return GuideAudio(found, block, tonal, music, silent, dict(rejected), first.sample_rate)


def guide_detections(
    timeline: otio.schema.Timeline,
    shots: list[Shot],
    detections: dict[int, Detection],
    resolver: MediaResolver,
    mode: str = "auto",
) -> Guided:
    """Every shot's detection with its guide audio's evidence applied; ``off``: unchanged."""
    if mode == "off":
        return Guided(dict(detections))
    guides = find_guides(timeline, shots, resolver)
    out = dict(detections)
    per_clip: dict[str, list[tuple[Shot, list[GuideSource], FuseStats, bool]]] = defaultdict(list)
    for shot in shots:
        sources = guides.get(shot.index, [])
        heard: list[tuple[GuideSource, GuideAudio]] = []
        for source in sources:
            try:
                heard.append((source, listen(source)))
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
