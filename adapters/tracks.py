"""Writing results back: the editor's timeline, untouched, plus our new audio tracks.

Every clip we add is an ExternalReference to a WAV, placed at its record time with gaps between.
Ranges are in whole timeline frames, because NLE formats (FCP XML, AAF) count audio in the
timeline's timecode; the available range is the whole frames the file holds, and the exact
sample count sits in the reference's metadata.
Sounds that overlap go to a second (third, ...) track of the same kind, as a sound editor
would lay them out. Our data sits under ``metadata["sonicvision"]``; nothing else is touched.
``our_tracks`` and ``cue_markers`` read it back: the pipeline, ``eval`` and the Resolve script
all read our results through them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio
import soundfile as sf

from sonicvision.events import SoundClip, SoundEvent

from .timecode import timeline_rate

TimeRange = otio.opentime.TimeRange
RationalTime = otio.opentime.RationalTime

NAMESPACE = "sonicvision"
TRACK_TITLES = {"onscreen": "SV On-screen Foley", "offscreen": "SV Off-screen"}
CUE_PREFIX = "SV CUE:"


@dataclass(frozen=True)
class CueMarker:
    """An editable cue: the text and span the editor can change before a second pass."""

    event: SoundEvent
    record_range: TimeRange


def ours(obj) -> bool:
    """True for tracks, clips and markers SonicVision added."""
    return NAMESPACE in obj.metadata


def strip_ours(timeline: otio.schema.Timeline, keep_markers: bool = False) -> otio.schema.Timeline:
    """A copy without anything SonicVision added: what the editor had.

    ``keep_markers`` keeps our cue markers, which after ``analyze`` are the editor's to edit.
    """
    clean = copy.deepcopy(timeline)
    for track in [t for t in clean.tracks if ours(t)]:
        clean.tracks.remove(track)
    if not keep_markers:
        for marker in [m for m in clean.tracks.markers if ours(m)]:
            clean.tracks.markers.remove(marker)
    clean.metadata.pop(NAMESPACE, None)
    return clean


def _lanes(clips: Sequence[SoundClip]) -> list[list[SoundClip]]:
    """Greedy lane packing: each clip on the first lane where it does not overlap."""
    lanes: list[list[SoundClip]] = []
    for clip in sorted(clips, key=lambda c: c.record_range.start_time.to_seconds()):
        for lane in lanes:
            if lane[-1].record_range.end_time_exclusive() <= clip.record_range.start_time:
                lane.append(clip)
                break
        else:
            lanes.append([clip])
    return lanes


def _event_metadata(event: SoundEvent) -> dict:
    return {
        "text": event.text,
        "onscreen": event.onscreen,
        "origin": event.origin.value,
        "confidence": round(float(event.confidence), 4),
        "continuous": event.continuous,
        "text_source": event.text_source,
        "shot": event.shot_index,
        "cue_id": event.cue_id,
        "placed_by": event.placed_by,
        # The guide's sample-exact attack, from the marker's frame (kept when it is moved).
        "onset_offset_s": round((event.attack - event.start).to_seconds(), 6),
    }


def _otio_clip(sound: SoundClip) -> otio.schema.Clip:
    info = sf.info(str(sound.path))
    rate = sound.record_range.duration.rate
    whole_frames = int(info.frames * rate // info.samplerate + 1e-9)
    available = TimeRange(RationalTime(0, rate), RationalTime(whole_frames, rate))
    ref = otio.schema.ExternalReference(
        target_url=Path(sound.path).resolve().as_uri(), available_range=available
    )
    ref.metadata[NAMESPACE] = {
        "sample_rate": info.samplerate,
        "channels": info.channels,
        "samples": info.frames,
    }
    clip = otio.schema.Clip(
        name=Path(sound.path).name,
        media_reference=ref,
        source_range=TimeRange(RationalTime(0, rate), sound.record_range.duration),
    )
    clip.metadata[NAMESPACE] = {
        "event": _event_metadata(sound.event),
        "generator": sound.generator,
        **sound.metadata,
    }
    return clip


def _track(kind: str, lane_index: int, lane: list[SoundClip], rate: float) -> otio.schema.Track:
    title = TRACK_TITLES[kind] + (f" {lane_index + 1}" if lane_index else "")
    track = otio.schema.Track(name=title, kind=otio.schema.TrackKind.Audio)
    track.metadata[NAMESPACE] = {"kind": kind, "lane": lane_index}
    cursor = RationalTime(0, rate)
    for sound in lane:
        start = sound.record_range.start_time.rescaled_to(rate)
        if start > cursor:
            track.append(otio.schema.Gap(duration=start - cursor))
        track.append(_otio_clip(sound))
        cursor = start + sound.record_range.duration.rescaled_to(rate)
    return track


def add_sound_tracks(
    timeline: otio.schema.Timeline,
    clips: Iterable[SoundClip],
    cues: Iterable[CueMarker] = (),
) -> otio.schema.Timeline:
    """A copy of ``timeline`` with on-screen and off-screen tracks (and cue markers) added."""
    result = copy.deepcopy(timeline)
    rate = timeline_rate(timeline)
    clips = list(clips)
    for kind in ("onscreen", "offscreen"):
        for i, lane in enumerate(_lanes([c for c in clips if c.track == kind])):
            result.tracks.append(_track(kind, i, lane, rate))
    for cue in cues:
        marker = otio.schema.Marker(
            name=f"{CUE_PREFIX} {cue.event.text}",
            marked_range=cue.record_range,
            color=otio.schema.MarkerColor.CYAN
            if cue.event.onscreen
            else otio.schema.MarkerColor.PURPLE,
            comment=cue.event.text
            + (f" (placed by {cue.event.placed_by})" if cue.event.placed_by else ""),
        )
        marker.metadata[NAMESPACE] = {"cue": _event_metadata(cue.event)}
        result.tracks.markers.append(marker)
    meta = dict(result.metadata.get(NAMESPACE, {}))
    meta.update({"version": 1, "clips": len(clips)})
    result.metadata[NAMESPACE] = meta
    return result


@dataclass(frozen=True)
class OurClip:
    """One sound we placed: its file, where it plays, and the event it renders."""

    name: str
    path: Path
    record_range: TimeRange
    source_range: TimeRange
    channels: int
    event: dict


@dataclass(frozen=True)
class OurTrack:
    name: str
    kind: str  # "onscreen" | "offscreen"
    lane: int
    clips: tuple[OurClip, ...]


@dataclass(frozen=True)
class Cue:
    """A cue marker: ours (``meta`` holds what we wrote), or the editor's ``SV CUE:`` marker."""

    marker: otio.schema.Marker
    text: str
    meta: dict | None


def our_tracks(timeline: otio.schema.Timeline) -> list[OurTrack]:
    """The tracks SonicVision added, with their clips in order."""
    found = []
    for track in timeline.tracks:
        meta = track.metadata.get(NAMESPACE) if ours(track) else None
        if meta is None:
            continue
        clips = []
        for clip in track.find_clips():
            ref = clip.media_reference
            url = getattr(ref, "target_url", None)
            if not url:
                raise ValueError(f"result clip {clip.name!r} has no file")
            clips.append(
                OurClip(
                    name=clip.name,
                    path=Path(otio.url_utils.filepath_from_url(url)),
                    record_range=clip.range_in_parent(),
                    source_range=clip.source_range or clip.available_range(),
                    channels=int(ref.metadata.get(NAMESPACE, {}).get("channels", 2)),
                    event=dict(clip.metadata.get(NAMESPACE, {}).get("event", {})),
                )
            )
        found.append(
            OurTrack(track.name, str(meta.get("kind", "")), int(meta.get("lane", 0)), tuple(clips))
        )
    return found


def cue_markers(timeline: otio.schema.Timeline) -> list[Cue]:
    """Every cue marker on the timeline: ours, and markers the editor named ``SV CUE: ...``."""
    cues = []
    for marker in timeline.tracks.markers:
        meta = marker.metadata.get(NAMESPACE, {}).get("cue") if ours(marker) else None
        name = marker.name
        named = name.upper().startswith(CUE_PREFIX)
        if meta is None and not named:
            continue
        text = name[len(CUE_PREFIX) :].strip() if named else name.strip()
        cues.append(Cue(marker, text, dict(meta) if meta is not None else None))
    return cues


def with_fcp_file_facts(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """A copy whose WAVs tell FCP XML their rate, depth and channels (``<samplecharacteristics>``,
    ``<channelcount>``), so Premiere imports them as made instead of guessing. FCP 7 XML has no
    track names and no marker colours; our cue markers keep their text in the comment."""
    result = copy.deepcopy(timeline)
    for track in result.tracks:
        if not ours(track):
            continue
        for clip in track.find_clips():
            facts = clip.media_reference.metadata.get(NAMESPACE, {})
            clip.media_reference.metadata["fcp_xml"] = {
                "media": {
                    "audio": {
                        "samplecharacteristics": {
                            "depth": "24",
                            "samplerate": str(facts.get("sample_rate", 48000)),
                        },
                        "channelcount": str(facts.get("channels", 2)),
                    }
                }
            }
    return result
