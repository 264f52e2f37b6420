"""Which picture the audience sees, clip by clip: the topmost enabled video track wins.

Titles and other generators are overlays with no camera picture, so they neither give shots
nor hide the tracks below; gaps hide nothing. Every clip that cannot be analysed as moving
picture (a still, a freeze frame, a reversed or unknown speed change) is still reported, with
a note saying what was done with it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import opentimelineio as otio

from .media import STILL_SUFFIXES, file_name, url_to_path

TimeRange = otio.opentime.TimeRange
RationalTime = otio.opentime.RationalTime


@dataclass(frozen=True)
class PictureClip:
    """A visible piece of a clip: where it plays (record) and what it shows (source)."""

    clip: otio.schema.Clip
    track_name: str
    record_range: TimeRange  # timeline time
    source_range: TimeRange  # media time; scaled by ``speed``
    speed: float = 1.0  # 0 for a freeze frame
    still: bool = False
    note: str = ""

    @property
    def name(self) -> str:
        return self.clip.name


def _speed(clip: otio.schema.Clip) -> tuple[float, str]:
    speed, notes = 1.0, []
    for effect in clip.effects:
        if isinstance(effect, otio.schema.FreezeFrame):
            return 0.0, "freeze frame: analysed as a still"
        if isinstance(effect, otio.schema.LinearTimeWarp):
            speed *= effect.time_scalar
            notes.append(f"speed {effect.time_scalar:g}x")
    return speed, ", ".join(notes)


def _is_still(clip: otio.schema.Clip) -> bool:
    ref = clip.media_reference
    if isinstance(ref, otio.schema.ExternalReference):
        name = file_name(url_to_path(ref.target_url)).lower()
        return name.endswith(STILL_SUFFIXES) and "%" not in name and "#" not in name
    return clip.name.lower().endswith(STILL_SUFFIXES)


def _subtract(span: TimeRange, covered: list[TimeRange]) -> list[TimeRange]:
    """The parts of ``span`` not inside any of ``covered`` (all in timeline time)."""
    pieces = [span]
    for cover in covered:
        nxt = []
        for p in pieces:
            if not p.intersects(cover):
                nxt.append(p)
                continue
            if p.start_time < cover.start_time:
                nxt.append(TimeRange.range_from_start_end_time(p.start_time, cover.start_time))
            if p.end_time_exclusive() > cover.end_time_exclusive():
                nxt.append(
                    TimeRange.range_from_start_end_time(
                        cover.end_time_exclusive(), p.end_time_exclusive()
                    )
                )
        pieces = nxt
    return [p for p in pieces if p.duration.value > 0]


def _restrict(p: PictureClip, span: TimeRange) -> PictureClip:
    """``p`` cut down to ``span`` (inside its record range); the source follows, speed included."""
    scale = abs(p.speed or 1.0)
    offset = span.start_time - p.record_range.start_time
    origin = p.source_range.start_time
    source = TimeRange(
        origin + RationalTime(offset.value * scale, offset.rate).rescaled_to(origin),
        RationalTime(span.duration.value * scale, span.duration.rate).rescaled_to(origin),
    )
    return replace(p, record_range=span, source_range=source)


def _clip_piece(item: otio.schema.Clip, label: str) -> PictureClip:
    speed, speed_note = _speed(item)
    note = "still image: one shot, no motion" if _is_still(item) else speed_note
    if speed < 0:
        note = f"{speed_note}: reversed picture analysed as one shot without cuts"
    record = item.range_in_parent()
    return _restrict(
        PictureClip(
            clip=item,
            track_name=label,
            record_range=record,
            source_range=item.trimmed_range(),
            speed=speed,
            still=_is_still(item) or speed == 0.0,
            note=note,
        ),
        record,
    )


def _nested(stack: otio.schema.Stack, label: str, notes: list[str]) -> list[PictureClip]:
    """A nested sequence's visible picture, trimmed to what the nest uses, in the parent's time."""
    inner_tracks = [
        t
        for t in stack
        if isinstance(t, otio.schema.Track) and t.kind == otio.schema.TrackKind.Video
    ]
    used = stack.trimmed_range()
    shift = stack.range_in_parent().start_time - used.start_time
    out = []
    for p in _visible(inner_tracks, f"{label} > {stack.name or 'nest'}", notes):
        if not p.record_range.intersects(used):
            continue
        start = max(p.record_range.start_time, used.start_time)
        end = min(p.record_range.end_time_exclusive(), used.end_time_exclusive())
        if end <= start:
            continue
        piece = _restrict(p, TimeRange.range_from_start_end_time(start, end))
        out.append(replace(piece, record_range=TimeRange(start + shift, end - start)))
    return out


def _visible(tracks: list[otio.schema.Track], prefix: str, notes: list[str]) -> list[PictureClip]:
    """Visible picture of a stack of video tracks, in the stack's own time."""
    visible: list[PictureClip] = []
    covered: list[TimeRange] = []
    for number in range(len(tracks), 0, -1):  # OTIO lists tracks bottom-up; the top one wins
        track = tracks[number - 1]
        label = f"{prefix}V{number}" + (f" ({track.name})" if track.name else "")
        if not track.enabled:
            notes.append(f"track {label}: disabled, not analysed")
            continue
        candidates: list[PictureClip] = []
        for item in track:
            if isinstance(item, otio.schema.Transition):
                notes.append(
                    f"{label}: transition {item.name or item.transition_type!r}: "
                    "shots split at its cut point"
                )
            elif isinstance(item, otio.schema.Gap):
                continue
            elif not item.enabled:
                notes.append(f"{label}: {item.name!r} disabled, not analysed")
            elif isinstance(item, otio.schema.Stack):
                inside = _nested(item, label, notes)
                if not inside:
                    notes.append(f"{label}: nested sequence {item.name!r} shows no picture")
                candidates += inside
            elif not isinstance(item, otio.schema.Clip):
                notes.append(f"{label}: nested {item.schema_name()} {item.name!r} not analysed")
            elif isinstance(item.media_reference, otio.schema.GeneratorReference):
                notes.append(f"{label}: generator {item.name!r} has no camera picture, skipped")
            else:
                candidates.append(_clip_piece(item, label))
        for candidate in candidates:
            pieces = _subtract(candidate.record_range, covered)
            visible += [_restrict(candidate, piece) for piece in pieces]
            if pieces != [candidate.record_range]:
                notes.append(f"{label}: clip {candidate.name!r} partly hidden by a track above")
        covered.extend(c.record_range for c in candidates)
    return visible


def visible_picture(timeline: otio.schema.Timeline) -> tuple[list[PictureClip], list[str]]:
    """Visible picture clips in record order, and notes about everything not analysed.

    Nested sequences are opened: their own topmost-wins picture, trimmed to the part the nest
    uses, plays where the nest sits.
    """
    notes: list[str] = []
    visible = _visible(list(timeline.video_tracks()), "", notes)
    visible.sort(key=lambda p: p.record_range.start_time.to_seconds())
    return visible, notes
