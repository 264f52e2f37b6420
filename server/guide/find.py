"""Which sound guides each shot: the picture file's own audio, else the timeline's audio
clips that play under it and come from the same take.

An editor's timeline links production sound to picture in two ways: the camera's audio
inside the clip's own file, or synced recorder audio on the audio tracks, which NLEs match by
the same file, the same clip name, the same reel, or the same source timecode. Only the
audio that plays under the shot counts: an audio clip trimmed, slipped or cut short guides
the frames it covers and no others.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio

from sonicvision.adapters.errors import MediaNotFoundError
from sonicvision.adapters.media import MediaResolver
from sonicvision.adapters.tracks import NAMESPACE
from sonicvision.errors import MediaError
from sonicvision.events import Shot

from .. import frames
from .audio import audio_stream_count

logger = logging.getLogger(__name__)

TimeRange = otio.opentime.TimeRange


@dataclass(frozen=True)
class GuideSource:
    """Sound under frames ``first .. first + count - 1`` of a shot (relative to the shot).

    Shot frame ``f`` plays at file time ``file_start_s + f / frame_rate`` of ``path``'s audio
    stream ``stream``.
    """

    path: Path
    stream: int
    file_start_s: float
    frame_rate: float
    first: int
    count: int
    how: str  # for the report: "own audio", "A1 'take 3' (same file)" ...

    def file_time(self, frame: float) -> float:
        return self.file_start_s + frame / self.frame_rate


def _video_start_s(path: Path) -> float:
    """File time of the first picture frame, as the decoder counts frames (frames.probe)."""
    info = frames.probe(path)
    return float(info.start_pts * info.time_base) if not info.is_still else 0.0


def _shot_fps(shot: Shot) -> float:
    return shot.media_rate * shot.speed


@functools.lru_cache(maxsize=256)
def _own_clock(path: Path) -> tuple[float, float] | None:
    """(file time of the first picture frame, the stream's rate) of a file with sound, or
    None; read once per file however many shots it gives."""
    if audio_stream_count(path) == 0:
        return None
    info = frames.probe(path)
    return float(info.start_pts * info.time_base), float(info.stream_rate)


def own_audio(shot: Shot) -> GuideSource | None:
    """The shot's own file's first audio stream under its frames, if it has one."""
    if shot.media_path is None or shot.frame_count <= 0 or shot.speed != 1.0:
        return None
    clock = _own_clock(shot.media_path)
    if clock is None:
        return None
    start, rate = clock
    return GuideSource(
        shot.media_path, 0, start + shot.first_frame / rate, rate, 0, shot.frame_count, "own audio"
    )


def _reel(clip: otio.schema.Clip) -> str:
    for meta in (clip.metadata, clip.media_reference.metadata if clip.media_reference else {}):
        for ns, key in (("cmx_3600", "reel"), ("Resolve_OTIO", "Reel Name"), ("fcp_xml", "reel")):
            value = meta.get(ns, {}).get(key) if isinstance(meta.get(ns), dict) else None
            if value and str(value).upper() not in ("AX", "BL"):
                return str(value)
    return ""


def _stem(name: str) -> str:
    return Path(name).stem.lower() if name else ""


@dataclass(frozen=True)
class _AudioClip:
    clip: otio.schema.Clip
    label: str
    record: TimeRange
    path: Path | None


def _audio_clips(timeline: otio.schema.Timeline, resolver: MediaResolver) -> list[_AudioClip]:
    out: list[_AudioClip] = []
    for number, track in enumerate(timeline.audio_tracks(), start=1):
        if not track.enabled or NAMESPACE in track.metadata:
            continue  # our own tracks are no guide
        for item in track:
            if not isinstance(item, otio.schema.Clip) or not item.enabled:
                continue
            try:
                path: Path | None = resolver.resolve(item)
            except MediaNotFoundError:
                path = None
            label = f"A{number} {item.name!r}"
            out.append(_AudioClip(item, label, item.range_in_parent(), path))
    return out


def _match(shot: Shot, picture: otio.schema.Clip | None, audio: _AudioClip) -> str:
    """Why ``audio`` belongs to the shot's take ("" when it does not)."""
    if audio.path is not None and shot.media_path is not None:
        if audio.path.resolve() == shot.media_path.resolve():
            return "same file"
    if _stem(audio.clip.name) and _stem(audio.clip.name) == _stem(shot.clip_name):
        return "same clip name"
    if picture is not None and _reel(picture) and _reel(picture) == _reel(audio.clip):
        return "same reel"
    # Synced by timecode: at the same record time both show the same source time.
    overlap = shot.record_range.clamped(audio.record)
    at = overlap.start_time
    picture_src = shot.source_range.start_time + (at - shot.record_range.start_time)
    audio_src = audio.clip.trimmed_range().start_time + (at - audio.record.start_time)
    frame = 1.0 / shot.rate if shot.rate else 0.04
    if (
        picture_src.to_seconds() > 0
        and abs(picture_src.to_seconds() - audio_src.to_seconds()) < frame / 2
    ):
        return "same source timecode"
    return ""


def _picture_clip(timeline: otio.schema.Timeline, shot: Shot) -> otio.schema.Clip | None:
    for track in timeline.video_tracks():
        for item in track:
            if isinstance(item, otio.schema.Clip) and item.name == shot.clip_name:
                if item.range_in_parent().intersects(shot.record_range):
                    return item
    return None


def _file_start(audio: _AudioClip, source_s: float) -> float:
    """File time of source time ``source_s`` in an audio clip's media."""
    ref = audio.clip.media_reference
    available = ref.available_range if ref is not None else None
    origin = available.start_time.to_seconds() if available is not None else 0.0
    base = 0.0
    if audio.path is not None:
        try:
            base = _video_start_s(audio.path)
        except MediaError:  # no picture in it: an audio-only file starts at its first sample
            base = 0.0
    return base + source_s - origin


def timeline_audio(
    timeline: otio.schema.Timeline, shot: Shot, clips: list[_AudioClip]
) -> list[GuideSource]:
    """The parts of the shot that audio clips of the same take play under, A1 first."""
    if shot.frame_count <= 0 or shot.speed != 1.0:
        return []
    picture = _picture_clip(timeline, shot)
    fps = _shot_fps(shot)
    shot_start = shot.record_range.start_time.to_seconds()
    covered: list[tuple[int, int]] = []
    found: list[GuideSource] = []
    for audio in clips:
        if audio.path is None or not audio.record.intersects(shot.record_range):
            continue
        why = _match(shot, picture, audio)
        if not why:
            continue
        overlap = shot.record_range.clamped(audio.record)
        first = max(0, round((overlap.start_time.to_seconds() - shot_start) * fps))
        stop = min(
            shot.frame_count, round((overlap.end_time_exclusive().to_seconds() - shot_start) * fps)
        )
        for a, b in _subtract((first, stop), covered):
            # Shot frame 0 plays at record time shot_start; the audio clip's source there:
            src0 = (
                audio.clip.trimmed_range().start_time.to_seconds()
                + shot_start
                - audio.record.start_time.to_seconds()
            )
            found.append(
                GuideSource(
                    audio.path, 0, _file_start(audio, src0), fps, a, b - a, f"{audio.label} ({why})"
                )
            )
            covered.append((a, b))
    return found


def _subtract(span: tuple[int, int], covered: list[tuple[int, int]]) -> list[tuple[int, int]]:
    pieces = [span] if span[1] > span[0] else []
    for c0, c1 in covered:
        pieces = [p for a, b in pieces for p in ((a, min(b, c0)), (max(a, c1), b)) if p[1] > p[0]]
    return pieces


class GuideFinder:
    """Finds shots' guide audio one shot at a time (the picture scan hands them over as it
    finds them): the timeline's audio clips are read once, when a shot first needs them."""

    def __init__(self, timeline: otio.schema.Timeline, resolver: MediaResolver) -> None:
        self.timeline, self.resolver = timeline, resolver
        self._clips: list[_AudioClip] | None = None
        _own_clock.cache_clear()  # files may have changed since the last run

    def sources(self, shot: Shot) -> list[GuideSource]:
        """The shot's guide audio (empty: none): its own file's sound, else the timeline's."""
        try:
            own = own_audio(shot)
        except MediaError as exc:
            logger.warning("shot %d: its audio cannot be read (%s)", shot.index, exc)
            own = None
        if own is not None:
            return [own]
        if self._clips is None:
            self._clips = _audio_clips(self.timeline, self.resolver)
        return timeline_audio(self.timeline, shot, self._clips)
