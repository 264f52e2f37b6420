"""The main job, top to bottom: timeline -> shots -> sound events -> sounds -> tracks.

``find_events`` finds the events in the pictures (shots, detector, describer, the editor's
prompts); ``cues_from_markers`` reads them back from a timeline the editor has edited after
``analyze``, so ``render`` honours every moved, resized, renamed or deleted cue;
``render_events`` turns events into WAV clips placed on frames. A pass (``PASSES``) is data:
where its events come from, whether it renders, whether it writes cue markers; ``run`` does
the work of every pass. Progress leaves through one callback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import opentimelineio as otio

from sonicvision.adapters.io import check_output_path, read_timeline, write_timeline
from sonicvision.adapters.markers import MarkerRule, read_prompts
from sonicvision.adapters.media import MediaResolver
from sonicvision.adapters.tracks import (
    CUE_PREFIX,
    NAMESPACE,
    CueMarker,
    add_sound_tracks,
    strip_ours,
    timeline_rate,
)
from sonicvision.errors import RenderError
from sonicvision.events import Origin, Prompt, Shot, SoundClip, SoundEvent

from .backends import build_describer, build_detector, build_generator
from .detect.base import Detection
from .detect.worker import DetectionWorker
from .generate.base import Generator, SoundRequest
from .options import FoleyOptions
from .place import render_clip
from .shots import find_shots, timecode

logger = logging.getLogger(__name__)

RationalTime = otio.opentime.RationalTime
TimeRange = otio.opentime.TimeRange
Progress = Callable[[str, int, int], None]


@dataclass
class Analysis:
    """What a pass found: the shots, the events, and notes for the editor."""

    shots: list[Shot] = field(default_factory=list)
    events: list[SoundEvent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class FoleyResult:
    output: Path
    analysis: Analysis
    clips: list[SoundClip]
    seconds: float
    audio_seconds: float

    def summary(self) -> dict:
        return {
            "output": str(self.output),
            "shots": len(self.analysis.shots),
            "events": len(self.analysis.events),
            "onscreen": sum(e.onscreen for e in self.analysis.events),
            "offscreen": sum(not e.onscreen for e in self.analysis.events),
            "clips": len(self.clips),
            "audio_seconds": round(self.audio_seconds, 3),
            "seconds": round(self.seconds, 3),
            "notes": self.analysis.notes,
        }


def _quiet(stage: str, done: int, total: int) -> None:
    return None


def _frame(seconds: float, rate: float) -> RationalTime:
    return RationalTime(round(seconds * rate), rate)


def _seconds(shot: Shot, detection: Detection) -> tuple[list[float], list[float]]:
    """Onsets and ends of a shot's detected intervals, in timeline seconds."""
    base = shot.record_range.start_time.to_seconds()
    scale = 1.0 / (shot.media_rate * shot.speed)
    onsets = [base + iv.onset * scale for iv in detection.intervals]
    ends = [base + iv.end * scale for iv in detection.intervals]
    return onsets, ends


def find_events(
    timeline: otio.schema.Timeline,
    resolver: MediaResolver,
    options: FoleyOptions,
    progress: Progress = _quiet,
) -> Analysis:
    """Shots, on-screen events (detector + describer) and off-screen prompts, in timeline time."""
    rate = timeline_rate(timeline)
    detector = build_detector(options.detector)
    describer = build_describer(options.describer)
    # 1. Shots: visible picture, media checked for every clip before any work; one decode.
    # 2. When: per-frame activity, measured from the frames the shot scan decodes, beside it.
    with DetectionWorker(detector) as detecting:
        shot_list = find_shots(
            timeline,
            resolver,
            allow_missing=options.allow_missing,
            progress=progress,
            watch=detecting,
            width=options.analysis_width,
        )
        detections = detecting.collect()
    prompts, marker_notes = read_prompts(timeline, options.marker_rule)
    result = Analysis(shots=shot_list.shots, notes=shot_list.notes + marker_notes)
    claimed: set[int] = set()
    # 3. What: a description per event.
    describer.prefetch(
        [s for s in shot_list.shots if s.index in detections and detections[s.index].intervals]
    )
    for shot in shot_list.shots:
        detection = detections.get(shot.index)
        if detection is None or not detection.intervals:
            continue
        onsets, ends = _seconds(shot, detection)
        described = describer.describe(shot, detection.intervals, onsets, prompts)
        shot_end = shot.record_range.end_time_exclusive().to_seconds()
        rows = zip(detection.intervals, onsets, ends, described, strict=True)
        for n, (iv, on, end, desc) in enumerate(rows):
            if desc.marker is not None:
                claimed.add(id(desc.marker))
            start = _frame(on, rate)
            stop = max(_frame(min(end, shot_end), rate), start + RationalTime(1, rate))
            result.events.append(
                SoundEvent(
                    text=desc.text,
                    start=start,
                    end=stop,
                    onscreen=True,
                    origin=Origin.DETECTED,
                    confidence=float(min(1.0, iv.strength)),
                    continuous=iv.continuous,
                    shot_index=shot.index,
                    text_source=desc.source,
                    cue_id=f"s{shot.index}e{n}",
                )
            )
    # 4. Off-screen: every prompt no on-screen event took as its description.
    for n, prompt in enumerate(p for p in prompts if id(p) not in claimed):
        result.events.append(prompt_event(prompt, n))
    result.events.sort(key=lambda e: (e.start.to_seconds(), not e.onscreen))
    return result


def prompt_event(prompt: Prompt, n: int) -> SoundEvent:
    return SoundEvent(
        text=prompt.text,
        start=prompt.record_range.start_time,
        end=prompt.record_range.end_time_exclusive(),
        onscreen=False,
        origin=Origin.MARKER,
        continuous=True,
        text_source="marker",
        cue_id=f"m{n}",
    )


def sound_request(event: SoundEvent, rate: float, seed: int) -> SoundRequest:
    """What to ask a generator for: the event's text and length, and its T_ct at frame rate."""
    frames = max(1, round(event.duration.to_seconds() * rate))
    return SoundRequest(
        text=event.text,
        duration_s=frames / rate,
        continuous=event.continuous,
        seed=seed,
        activity=np.ones(frames, dtype=bool),
        activity_rate=rate,
        start_s=event.start.to_seconds(),
    )


def render_events(
    events: list[SoundEvent],
    timeline: otio.schema.Timeline,
    options: FoleyOptions,
    audio_dir: Path,
    progress: Progress = _quiet,
    batch: int = 32,
) -> list[SoundClip]:
    """Render (in batches, for generators that batch), place and write every event.

    A generator that finds nothing for an event (a library with no match) falls back to
    procedural synthesis for that event, with a warning.
    """
    rate = timeline_rate(timeline)
    generator = build_generator(options.generator)
    fallback: Generator | None = None
    clips: list[SoundClip] = []
    requests = [sound_request(e, rate, options.seed * 100_003 + i) for i, e in enumerate(events)]
    for first in range(0, len(events), batch):
        progress("render", first, len(events))
        chunk = requests[first : first + batch]
        try:
            sounds = [(s, generator) for s in generator.render_batch(chunk)]
        except RenderError:
            sounds = []
            for event, request in zip(events[first : first + batch], chunk, strict=True):
                try:
                    sounds.append((generator.render(request), generator))
                except RenderError as exc:
                    fallback = fallback or build_generator("procedural")
                    logger.warning("%s; using procedural synthesis for %r", exc, event.text)
                    sounds.append((fallback.render(request), fallback))
        for event, (sound, used) in zip(events[first : first + batch], sounds, strict=True):
            clips.append(
                render_clip(
                    event,
                    sound,
                    rate,
                    audio_dir,
                    timecode(event.start, timeline),
                    used.name,
                    options.mastering,
                )
            )
    progress("render", len(events), len(events))
    return clips


def default_audio_dir(output: Path) -> Path:
    return output.with_name(output.stem + "_audio")


def cues_from_markers(timeline: otio.schema.Timeline, rule: MarkerRule) -> Analysis:
    """The events as the editor left them: cue markers (edited) and SFX prompt markers."""
    result = Analysis()
    rate = timeline_rate(timeline)
    for n, marker in enumerate(timeline.tracks.markers):
        meta = (
            marker.metadata.get(NAMESPACE, {}).get("cue") if NAMESPACE in marker.metadata else None
        )
        is_cue = meta is not None or marker.name.upper().startswith(CUE_PREFIX)
        if not is_cue:
            continue
        name = marker.name
        text = (
            name[len(CUE_PREFIX) :].strip() if name.upper().startswith(CUE_PREFIX) else name.strip()
        )
        if not text:
            at = timecode(marker.marked_range.start_time, timeline)
            result.notes.append(f"cue marker at {at} has no text: skipped")
            continue
        span = marker.marked_range
        duration = (
            span.duration
            if span.duration.value > 0
            else RationalTime(1, span.duration.rate or rate)
        )
        meta = dict(meta or {})
        result.events.append(
            SoundEvent(
                text=text,
                start=span.start_time,
                end=span.start_time + duration,
                onscreen=True,
                origin=Origin.USER,
                confidence=float(meta.get("confidence", 1.0)),
                continuous=bool(meta.get("continuous", duration.to_seconds() > 0.5)),
                shot_index=meta.get("shot"),
                text_source="cue marker",
                cue_id=str(meta.get("cue_id", f"c{n}")),
            )
        )
    prompts, notes = read_prompts(timeline, rule)
    result.notes += notes
    result.events += [prompt_event(p, n) for n, p in enumerate(prompts)]
    result.events.sort(key=lambda e: (e.start.to_seconds(), not e.onscreen))
    return result


@dataclass(frozen=True)
class Pass:
    """What a pass does: where its events come from, and what it writes."""

    name: str
    summary: str
    finds_events: bool  # True: in the pictures; False: from the cue and SFX markers as left
    renders: bool
    cue_markers: bool | None  # None: as the options say
    keeps_cue_markers: bool  # the editor's cues from an earlier pass stay on the timeline


PASSES: dict[str, Pass] = {
    p.name: p
    for p in (
        Pass(
            "foley",
            "the main job: detect, describe, render, write new tracks",
            True,
            True,
            None,
            False,
        ),
        Pass(
            "analyze",
            "write detected events as editable cue markers only",
            True,
            False,
            True,
            False,
        ),
        Pass(
            "render",
            "render from cue and SFX markers as the editor left them",
            False,
            True,
            False,
            True,
        ),
    )
}


def run(
    pass_name: str,
    timeline_path: Path,
    output: Path,
    options: FoleyOptions,
    progress: Progress = _quiet,
) -> FoleyResult:
    """One pass over one timeline, written next to it (never over it)."""
    job = PASSES[pass_name]
    started = time.perf_counter()
    # 1. Read the timeline; refuse a bad output path before any work.
    timeline = read_timeline(timeline_path, rate=options.rate)
    check_output_path(output, inputs=[timeline_path])
    # 2. The events: found in the pictures, or read from the markers the editor left.
    if job.finds_events:
        resolver = MediaResolver(timeline_path, options.media_roots, options.path_maps)
        analysis = find_events(timeline, resolver, options, progress)
    else:
        analysis = cues_from_markers(timeline, options.marker_rule)
    audio_dir = options.audio_dir or default_audio_dir(output)
    clips: list[SoundClip] = []
    try:
        # 3. The sounds, placed on their frames.
        if job.renders:
            clips = render_events(analysis.events, timeline, options, audio_dir, progress)
        # 4. The timeline back: what the editor had, our tracks and (editable) cue markers.
        cues = options.cue_markers if job.cue_markers is None else job.cue_markers
        cue_markers = [
            CueMarker(e, TimeRange(e.start, e.duration)) for e in analysis.events if e.onscreen
        ]
        base = strip_ours(timeline, keep_markers=job.keeps_cue_markers)
        result = add_sound_tracks(base, clips, cue_markers if cues else [])
        written = write_timeline(result, output, inputs=[timeline_path])
    except BaseException:
        for clip in clips:  # a failed run leaves nothing behind
            clip.path.unlink(missing_ok=True)
        raise
    audio_seconds = sum(c.record_range.duration.to_seconds() for c in clips)
    return FoleyResult(written, analysis, clips, time.perf_counter() - started, audio_seconds)


def foley(
    timeline_path: Path, output: Path, options: FoleyOptions, progress: Progress = _quiet
) -> FoleyResult:
    """The main job: find the events, render every one, write the timeline with new tracks."""
    return run("foley", timeline_path, output, options, progress)


def analyze(
    timeline_path: Path, output: Path, options: FoleyOptions, progress: Progress = _quiet
) -> FoleyResult:
    """First pass: detected events written as editable cue markers, no audio."""
    return run("analyze", timeline_path, output, options, progress)


def render(
    timeline_path: Path, output: Path, options: FoleyOptions, progress: Progress = _quiet
) -> FoleyResult:
    """Second pass: render exactly what the cue and SFX markers say, no detection."""
    return run("render", timeline_path, output, options, progress)
