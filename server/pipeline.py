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
import os
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import opentimelineio as otio

from sonicvision.adapters.io import check_output_path, read_timeline, write_timeline
from sonicvision.adapters.markers import MarkerRule, read_prompts
from sonicvision.adapters.media import MediaResolver, rebase_relative
from sonicvision.adapters.timecode import timecode, timeline_rate
from sonicvision.adapters.tracks import (
    CueMarker,
    add_sound_tracks,
    cue_markers,
    strip_ours,
)
from sonicvision.errors import RenderError
from sonicvision.events import Origin, Prompt, Shot, SoundClip, SoundEvent

from .backends import FRESH, Provider
from .detect.base import Detection
from .detect.worker import DetectionWorker
from .frames import MediaInfo
from .generate.base import Generator, RenderedSound, SoundRequest
from .guide import Listening, event_fields, guide_detections
from .options import FoleyOptions
from .passes import PASSES
from .place import render_clip
from .shots import ClipWatch, ShotList, find_shots

logger = logging.getLogger(__name__)

RationalTime = otio.opentime.RationalTime
TimeRange = otio.opentime.TimeRange
Progress = Callable[[str, int, int], None]
# A progress callback may also have ``check()``: called for every decoded frame, it raises to
# stop the run (the server's cancel), so a long shot need not end first.


@dataclass
class Analysis:
    """What a pass found: the shots, the events, and notes for the editor."""

    shots: list[Shot] = field(default_factory=list)
    events: list[SoundEvent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Per shot (record timecode): candidates the detector turned down, by reason.
    turned_down: list[TurnedDown] = field(default_factory=list)


@dataclass(frozen=True)
class TurnedDown:
    """What the detector did not make into cues in one shot, and why: the editor sees that a
    flap or a pan was looked at and left silent on purpose."""

    shot: int
    record_in: str  # timecode
    reasons: dict[str, int]

    def to_dict(self) -> dict:
        return {"shot": self.shot, "record_in": self.record_in, "reasons": dict(self.reasons)}


def turned_down_note(rows: list[TurnedDown]) -> str | None:
    """One line for the report: how many candidates were turned down, by reason, in how many
    shots (per shot in ``--json``'s ``turned_down``)."""
    totals: dict[str, int] = {}
    for row in rows:
        for reason, n in row.reasons.items():
            totals[reason] = totals.get(reason, 0) + n
    if not totals:
        return None
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    reasons = ", ".join(f"{n} {reason}" for reason, n in ranked)
    return (
        f"turned down {sum(totals.values())} candidates that make no sound, in {len(rows)} "
        f"shots: {reasons} (per shot: --json, turned_down)"
    )


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
            "turned_down": [row.to_dict() for row in self.analysis.turned_down],
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


def scan_picture(
    timeline: otio.schema.Timeline,
    resolver: MediaResolver,
    options: FoleyOptions,
    progress: Progress = _quiet,
    backends: Provider = FRESH,
    clips: Collection[int] | None = None,
    listening: Listening | None = None,
) -> tuple[ShotList, dict[int, Detection]]:
    """Shots and their detections: every visible picture clip, or only ``clips`` (an engine
    analysing clips apart, see ``find_shots``). ``listening``: each shot's guide audio starts
    being heard as the scan finds the shot (guide/listening.py)."""
    detector = backends.get("detector", options.detector)
    # 1. Shots: visible picture, media checked for every clip before any work; one decode.
    # 2. When: per-frame activity, measured from the frames the shot scan decodes, beside it.
    with DetectionWorker(detector, interrupt=getattr(progress, "check", None)) as detecting:

        def watch(info: MediaInfo, first: int, count: int) -> ClipWatch:
            clip = detecting(info, first, count)
            return clip if listening is None else listening.beside(clip, timeline, resolver)

        shot_list = find_shots(
            timeline,
            resolver,
            allow_missing=options.allow_missing,
            progress=progress,
            watch=watch,
            width=options.analysis_width,
            clips=clips,
        )
        return shot_list, detecting.collect()


PictureScan = Callable[..., tuple[ShotList, dict[int, Detection]]]  # as scan_picture


def find_events(
    timeline: otio.schema.Timeline,
    resolver: MediaResolver,
    options: FoleyOptions,
    progress: Progress = _quiet,
    backends: Provider = FRESH,
    scan: PictureScan = scan_picture,
) -> Analysis:
    """Shots, on-screen events (detector + describer) and off-screen prompts, in timeline time.

    ``scan`` finds the shots and detections (here, or on a cluster: ``service/engine.py``).
    """
    rate = timeline_rate(timeline)
    describer = backends.get("describer", options.describer)
    with Listening() as listening:
        hear = listening if options.guide_audio != "off" else None
        shot_list, detections = scan(
            timeline, resolver, options, progress, backends, listening=hear
        )
        # 3b. Guide audio: production sound under each shot confirms, places and adds cues.
        guided = guide_detections(
            timeline, shot_list.shots, detections, resolver, options.guide_audio, listening
        )
    detections = guided.detections
    prompts, marker_notes = read_prompts(timeline, options.marker_rule)
    result = Analysis(shots=shot_list.shots, notes=shot_list.notes + marker_notes + guided.notes)
    # 3. What: a description per event.
    describer.prefetch(
        [s for s in shot_list.shots if s.index in detections and detections[s.index].intervals]
    )
    for shot in shot_list.shots:
        detection = detections.get(shot.index)
        if detection is None:
            continue
        detection, reasons = _confident(detection, options.min_confidence)
        if reasons:
            at = timecode(shot.record_range.start_time, timeline)
            result.turned_down.append(TurnedDown(shot.index, at, reasons))
        if not detection.intervals:
            continue
        onsets, ends = _seconds(shot, detection)
        described = describer.describe(shot, detection.intervals, onsets)
        shot_end = shot.record_range.end_time_exclusive().to_seconds()
        rows = zip(detection.intervals, onsets, ends, described, strict=True)
        for n, (iv, on, end, desc) in enumerate(rows):
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
                    **event_fields(iv),
                )
            )
    note = turned_down_note(result.turned_down)
    if note:
        result.notes.append(note)
    # 4. Off-screen: every prompt marker is its own sound, whatever is detected under it.
    for n, prompt in enumerate(prompts):
        result.events.append(prompt_event(prompt, n))
    result.events.sort(key=lambda e: (e.start.to_seconds(), not e.onscreen))
    return result


BELOW_MIN_CONFIDENCE = "below --min-confidence"


def _confident(detection: Detection, floor: float) -> tuple[Detection, dict[str, int]]:
    """The shot's cues without the impacts under ``floor``, and every reason a candidate was
    turned down (the detector's, and this floor's)."""
    reasons = dict(detection.rejected)
    kept = [iv for iv in detection.intervals if iv.continuous or min(1.0, iv.strength) >= floor]
    if len(kept) < len(detection.intervals):
        reasons[BELOW_MIN_CONFIDENCE] = len(detection.intervals) - len(kept)
        detection = replace(detection, intervals=kept)
    return detection, reasons


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
        one_shot=prompt.one_shot,
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
        one_shot=event.one_shot,
        onscreen=event.onscreen,
        start_s=event.start.to_seconds(),
    )


Batch = list[tuple[SoundEvent, SoundRequest]]
Made = list[tuple[RenderedSound, str]]  # each sound and the name of the backend that made it
SoundBatches = Callable[..., Iterator[tuple[Made, list[str]]]]  # as synthesize_batches


def synthesize_batches(
    generator: str, batches: list[Batch], backends: Provider = FRESH, progress: Progress = _quiet
) -> Iterator[tuple[Made, list[str]]]:
    """Each batch's sounds, in order, with the fallback notes said while making them: here,
    one batch at a time as the caller asks (or on a cluster's render actors, see
    ``service/engine.py``). The generator is got now, before the first batch."""
    sounds = _Sounds(backends.get("generator", generator), backends)
    return (sounds.render(chunk) for chunk in batches)


def render_events(
    events: list[SoundEvent],
    timeline: otio.schema.Timeline,
    options: FoleyOptions,
    audio_dir: Path,
    progress: Progress = _quiet,
    batch: int = 32,
    notes: list[str] | None = None,
    backends: Provider = FRESH,
    synthesize: SoundBatches = synthesize_batches,
) -> list[SoundClip]:
    """Render (in batches, for generators that batch), place and write every event.

    Whatever did not match what was asked is said, in ``notes`` and as a warning (which a
    server streams as a job event). Interrupted or failed midway, it leaves no WAV behind.
    ``synthesize`` makes the sounds (here, or on a cluster); placing and writing stay here.
    """
    rate = timeline_rate(timeline)
    notes = notes if notes is not None else []

    def say(text: str) -> None:
        notes.append(text)
        logger.warning("%s", text)

    requests = [sound_request(e, rate, options.seed * 100_003 + i) for i, e in enumerate(events)]
    pairs = list(zip(events, requests, strict=True))
    firsts = range(0, len(events), batch)
    batches = [pairs[f : f + batch] for f in firsts]
    made = synthesize(options.generator, batches, backends, progress)
    clips: list[SoundClip] = []
    try:
        for first, chunk in zip(firsts, batches, strict=True):
            progress("render", first, len(events))
            sounds, said = next(made)
            for text in said:
                say(text)
            for (event, _), (sound, used) in zip(chunk, sounds, strict=True):
                if not sound.matched:
                    say(f"prompt {event.text!r}: no matching sound, used {sound.used}")
                if event.one_shot and not sound.metadata.get("continuous", True):
                    event = replace(event, continuous=False)  # one sound, attack on the frame
                at = timecode(event.start, timeline)
                clips.append(
                    render_clip(event, sound, rate, audio_dir, at, used, options.mastering)
                )
    except BaseException:
        for clip in clips:
            clip.path.unlink(missing_ok=True)
        raise
    finally:
        getattr(made, "close", lambda: None)()  # a cluster's unfinished batches are stopped
    progress("render", len(events), len(events))
    return clips


class _Sounds:
    """The generator, and procedural synthesis for what it finds nothing for (a library with
    no match): each fallback is said."""

    def __init__(self, generator: Generator, backends: Provider) -> None:
        self.generator, self.backends = generator, backends
        self.fallback: Generator | None = None

    def render(self, chunk: Batch) -> tuple[Made, list[str]]:
        """(sound, name of the backend that made it) for each request, in order, and what
        fell back to procedural synthesis, said."""
        try:
            made = self.generator.render_batch([r for _, r in chunk])
            return [(s, self.generator.name) for s in made], []
        except RenderError:
            pass
        out, said = [], []
        for event, request in chunk:
            try:
                out.append((self.generator.render(request), self.generator.name))
            except RenderError as exc:
                self.fallback = self.fallback or self.backends.get("generator", "procedural")
                sound = self.fallback.render(request)
                said.append(
                    f"{exc}; {event.text!r} rendered by procedural synthesis ({sound.used})"
                )
                out.append((sound, self.fallback.name))
        return out, said


def default_audio_dir(output: Path) -> Path:
    """``cut_foley_audio/`` beside ``cut_foley.otio``; other formats name theirs
    (``cut_foley_xml_audio/``), so an .otio and an .xml result never share one folder."""
    suffix = output.suffix.lower().lstrip(".")
    tag = "" if suffix in ("otio", "") else f"_{suffix}"
    return output.with_name(f"{output.stem}{tag}_audio")


def check_audio_dir(folder: Path) -> None:
    """The audio folder can hold new files: it is a writable folder, or it can be made."""
    if folder.exists() and not folder.is_dir():
        raise RenderError("the audio folder is a file, not a folder", path=folder)
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise RenderError(
            "the audio folder cannot be made here (no permission to write)", path=folder
        )


def remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()  # fails, as it should, where anything is left in it
    except OSError:
        pass


def cues_from_markers(timeline: otio.schema.Timeline, rule: MarkerRule) -> Analysis:
    """The events as the editor left them: cue markers (edited) and SFX prompt markers."""
    result = Analysis()
    rate = timeline_rate(timeline)
    for n, cue in enumerate(cue_markers(timeline)):
        marker, text = cue.marker, cue.text
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
        meta = cue.meta or {}
        offset = float(meta.get("onset_offset_s") or 0.0)
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
                placed_by=str(meta.get("placed_by", "")),
                onset=span.start_time + RationalTime.from_seconds(offset, 48_000)
                if offset
                else None,
            )
        )
    prompts, notes = read_prompts(timeline, rule)
    result.notes += notes
    result.events += [prompt_event(p, n) for n, p in enumerate(prompts)]
    result.events.sort(key=lambda e: (e.start.to_seconds(), not e.onscreen))
    return result


def run(
    pass_name: str,
    timeline_path: Path,
    output: Path,
    options: FoleyOptions,
    progress: Progress = _quiet,
    backends: Provider = FRESH,
    scan: PictureScan = scan_picture,
    synthesize: SoundBatches = synthesize_batches,
) -> FoleyResult:
    """One pass over one timeline, written next to it (never over it); ``backends`` says
    where models come from (the server passes its warm cache), ``scan`` where the
    pictures are analysed and ``synthesize`` where the sounds are made (here, or on a
    cluster)."""
    job = PASSES[pass_name]
    started = time.perf_counter()
    # 1. Read the timeline; refuse a bad output path or audio folder before any work.
    timeline = read_timeline(timeline_path, rate=options.rate)
    check_output_path(output, inputs=[timeline_path])
    audio_dir = options.audio_dir or default_audio_dir(output)
    audio_dir_existed = audio_dir.exists()
    if job.renders:
        check_audio_dir(audio_dir)
    # 2. The events: found in the pictures, or read from the markers the editor left.
    if job.finds_events:
        resolver = MediaResolver(
            timeline_path, options.media_roots, options.path_maps, confine=options.confine_media
        )
        analysis = find_events(timeline, resolver, options, progress, backends, scan)
    else:
        analysis = cues_from_markers(timeline, options.marker_rule)
    clips: list[SoundClip] = []
    try:
        # 3. The sounds, placed on their frames.
        if job.renders:
            clips = render_events(
                analysis.events,
                timeline,
                options,
                audio_dir,
                progress,
                notes=analysis.notes,
                backends=backends,
                synthesize=synthesize,
            )
        # 4. The timeline back: what the editor had, our tracks and (editable) cue markers;
        # relative media paths rebased so the picture stays online in the output's folder.
        cues = options.cue_markers if job.cue_markers is None else job.cue_markers
        cue_markers = [
            CueMarker(e, TimeRange(e.start, e.duration)) for e in analysis.events if e.onscreen
        ]
        base = strip_ours(timeline, keep_markers=job.keeps_cue_markers)
        rebase_relative(base, timeline_path.parent, output.parent)
        result = add_sound_tracks(base, clips, cue_markers if cues else [])
        written = write_timeline(result, output, inputs=[timeline_path])
    except BaseException:
        for clip in clips:  # a failed run leaves nothing behind
            clip.path.unlink(missing_ok=True)
        if not audio_dir_existed:
            remove_if_empty(audio_dir)
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
