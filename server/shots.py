"""Timeline -> shots: cut detection (PySceneDetect) inside each visible clip, in record time.

The paper segments the video into shots before asking what sounds there are (supp. A.3). An
editor's clip often holds several camera shots (a stringout, a oner with whip pans), so each
visible clip's used source range is searched for cuts, and every shot is mapped back to the
frames where it plays on the timeline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import opentimelineio as otio
from scenedetect import ContentDetector, SceneManager, open_video
from sonicvision.adapters.errors import MediaNotFoundError
from sonicvision.adapters.media import MediaResolver
from sonicvision.adapters.picture import PictureClip, visible_picture

from sonicvision.errors import MediaError
from sonicvision.events import Shot

logger = logging.getLogger(__name__)

TimeRange = otio.opentime.TimeRange
RationalTime = otio.opentime.RationalTime
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class MediaClock:
    """How a media file counts time: its exact rate, length, and starting timecode."""

    rate: Fraction
    frames: int
    start_s: float  # the file's first frame in source time (embedded timecode), seconds


@dataclass
class ShotList:
    """The shots of a timeline, and what happened to everything that gave no shot."""

    shots: list[Shot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # clips whose media was missing


def media_clock(path: Path, available: TimeRange | None) -> MediaClock:
    """Rate and length from the file; where its first frame sits in source time.

    The timeline's available range is the most reliable start (the NLE read the file); without
    it (EDLs), the file's own timecode track; without that, zero.
    """
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = Fraction(stream.average_rate or stream.guessed_rate or 0)
            frames = stream.frames or 0
            if not frames and stream.duration and stream.time_base:
                frames = round(stream.duration * stream.time_base * rate)
            timecode = stream.metadata.get("timecode") or container.metadata.get("timecode")
    except (av.error.FFmpegError, IndexError, ValueError) as exc:
        raise MediaError(f"cannot read video: {exc}", path=path) from exc
    if rate <= 0:
        raise MediaError("video has no usable frame rate", path=path)
    if available is not None and available.duration.value > 0:
        start = available.start_time.to_seconds()
    elif timecode:
        start = otio.opentime.from_timecode(timecode, float(rate)).to_seconds()
    else:
        start = 0.0
    return MediaClock(rate=rate, frames=frames, start_s=start)


def detect_cuts(
    path: Path, start_frame: int, frame_count: int, threshold: float = 27.0, min_shot_s: float = 0.3
) -> list[int]:
    """File-frame indices where a new shot starts, strictly inside [start, start+count).

    PySceneDetect's default minimum shot (15 frames) would hide a cut early in a trimmed clip;
    editors trim close to cuts, so the minimum here is a third of a second.
    """
    if frame_count < 2:
        return []
    video = open_video(str(path))
    video.seek(start_frame)
    manager = SceneManager()
    min_len = max(2, round(min_shot_s * float(video.frame_rate)))
    manager.add_detector(ContentDetector(threshold=threshold, min_scene_len=min_len))
    manager.detect_scenes(video=video, duration=frame_count)
    starts = [s.frame_num for s, _ in manager.get_scene_list(start_in_scene=True)]
    return [c for c in starts if start_frame < c < start_frame + frame_count]


def _record_time(
    piece: PictureClip, file_frame: int, clock: MediaClock, first: int
) -> RationalTime:
    """The timeline frame where ``file_frame`` plays (speed changes included)."""
    rate = piece.record_range.start_time.rate
    seconds = Fraction(file_frame - first) / clock.rate / Fraction(abs(piece.speed) or 1)
    offset = RationalTime(round(seconds * Fraction(rate)), rate)
    return piece.record_range.start_time + offset


@dataclass(frozen=True)
class ClipShots:
    """The shots found inside one visible clip, with the media frames they come from."""

    ranges: list[TimeRange]
    note: str
    file_starts: list[int]  # first media frame of each shot
    file_counts: list[int]
    media_rate: float


def shots_for_clip(piece: PictureClip, path: Path, detect: bool = True) -> ClipShots:
    """Record ranges of the shots inside one visible clip, and a note on anything unusual."""
    if piece.still:
        return ClipShots([piece.record_range], piece.note, [0], [0], 0.0)
    clock = media_clock(path, piece.clip.media_reference.available_range)
    first = round((piece.source_range.start_time.to_seconds() - clock.start_s) * clock.rate)
    count = round(piece.source_range.duration.to_seconds() * clock.rate)
    note = piece.note
    if clock.frames and (first < 0 or first >= clock.frames):
        raise MediaError(
            f"clip uses source frames {first}..{first + count} but the file has "
            f"{clock.frames} frames (start timecode or media mismatch)",
            path=path,
            clip=piece.name,
            field="source_range",
        )
    if clock.frames and first + count > clock.frames:
        note = ", ".join(
            filter(None, [note, f"media ends {first + count - clock.frames} frames early"])
        )
        count = clock.frames - first
    cuts = detect_cuts(path, first, count) if detect and piece.speed > 0 else []
    bounds = [piece.record_range.start_time]
    bounds += [_record_time(piece, c, clock, first) for c in cuts]
    end = piece.record_range.end_time_exclusive()
    file_bounds = [first, *cuts, first + count]
    kept = [i for i, (a, b) in enumerate(zip(bounds, bounds[1:] + [end], strict=True)) if b > a]
    return ClipShots(
        ranges=[
            TimeRange.range_from_start_end_time(bounds[i], (bounds[1:] + [end])[i]) for i in kept
        ],
        note=note,
        file_starts=[file_bounds[i] for i in kept],
        file_counts=[file_bounds[i + 1] - file_bounds[i] for i in kept],
        media_rate=float(clock.rate),
    )


def find_shots(
    timeline: otio.schema.Timeline,
    resolver: MediaResolver,
    *,
    allow_missing: bool = False,
    detect: bool = True,
    progress: Progress | None = None,
) -> ShotList:
    """Every shot on the timeline, in record order. Media is checked for all clips first."""
    pieces, notes = visible_picture(timeline)
    result = ShotList(notes=list(notes))
    located: list[tuple[PictureClip, Path]] = []
    missing: list[MediaNotFoundError] = []
    for piece in pieces:
        try:
            located.append((piece, resolver.resolve(piece.clip)))
        except MediaNotFoundError as exc:
            missing.append(exc)
    if missing and not allow_missing:
        raise MediaNotFoundError.merge(missing)
    for clip, tried in MediaNotFoundError.merge(missing).missing if missing else []:
        logger.warning("clip %r: media not found, skipped; tried %s", clip, "; ".join(tried))
        result.skipped.append(clip)
        result.notes.append(f"clip {clip!r}: media missing, skipped (--allow-missing)")
    for i, (piece, path) in enumerate(located):
        if progress:
            progress("shots", i, len(located))
        found = shots_for_clip(piece, path, detect=detect)
        for n, record in enumerate(found.ranges):
            offset = record.start_time - piece.record_range.start_time
            scale = abs(piece.speed) or 1.0
            source = TimeRange(
                piece.source_range.start_time
                + RationalTime(offset.value * scale, offset.rate).rescaled_to(
                    piece.source_range.start_time
                ),
                RationalTime(record.duration.value * scale, record.duration.rate).rescaled_to(
                    piece.source_range.start_time
                ),
            )
            result.shots.append(
                Shot(
                    index=len(result.shots),
                    clip_name=piece.name,
                    media_path=path,
                    source_range=source,
                    record_range=record,
                    track_name=piece.track_name,
                    note=found.note,
                    first_frame=found.file_starts[n],
                    frame_count=found.file_counts[n],
                    media_rate=found.media_rate,
                    speed=piece.speed,
                )
            )
    if progress:
        progress("shots", len(located), len(located))
    return result


def timecode(
    t: RationalTime, timeline: otio.schema.Timeline, drop_frame: bool | None = None
) -> str:
    """Timeline time as the editor's timecode (the timeline's start, e.g. 01:00:00:00, added)."""
    start = timeline.global_start_time
    absolute = t + start.rescaled_to(t.rate) if start is not None else t
    rate = t.rate
    if drop_frame is None:
        drop_frame = abs(rate - 30000 / 1001) < 1e-3 or abs(rate - 60000 / 1001) < 1e-3
    return otio.opentime.to_timecode(absolute, rate, drop_frame)


def shot_summary(shots: Sequence[Shot], timeline: otio.schema.Timeline) -> list[dict]:
    """JSON-ready rows for the CLI: timecodes and seconds for every shot."""
    return [
        {
            "index": s.index,
            "clip": s.clip_name,
            "track": s.track_name,
            "media": str(s.media_path) if s.media_path else None,
            "record_in": timecode(s.record_range.start_time, timeline),
            "record_out": timecode(s.record_range.end_time_exclusive(), timeline),
            "start_s": round(s.record_range.start_time.to_seconds(), 4),
            "duration_s": round(s.record_range.duration.to_seconds(), 4),
            "frames": round(s.record_range.duration.value),
            "note": s.note,
        }
        for s in shots
    ]
