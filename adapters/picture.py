"""Which picture the audience sees, clip by clip: the topmost enabled video track wins.

Titles and other generators are overlays with no camera picture, so they neither give shots
nor hide the tracks below; gaps hide nothing. Every clip that cannot be analysed as moving
picture (a still, a freeze frame, a reversed or unknown speed change) is still reported, with
a note saying what was done with it.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def visible_picture(timeline: otio.schema.Timeline) -> tuple[list[PictureClip], list[str]]:
    """Visible picture clips in record order, and notes about everything not analysed."""
    notes: list[str] = []
    visible: list[PictureClip] = []
    covered: list[TimeRange] = []
    tracks = list(timeline.video_tracks())
    for number in range(len(tracks), 0, -1):  # OTIO lists tracks bottom-up; the top one wins
        track = tracks[number - 1]
        label = f"V{number}" + (f" ({track.name})" if track.name else "")
        if not track.enabled:
            notes.append(f"track {label}: disabled, not analysed")
            continue
        track_covered: list[TimeRange] = []
        for item in track:
            if isinstance(item, otio.schema.Transition):
                notes.append(
                    f"{label}: transition {item.name or item.transition_type!r}: "
                    "shots split at its cut point"
                )
                continue
            if isinstance(item, otio.schema.Gap):
                continue
            if not isinstance(item, otio.schema.Clip):
                notes.append(f"{label}: nested {item.schema_name()} {item.name!r} not analysed")
                track_covered.append(item.range_in_parent())
                continue
            if not item.enabled:
                notes.append(f"{label}: clip {item.name!r} disabled, not analysed")
                continue
            if isinstance(item.media_reference, otio.schema.GeneratorReference):
                notes.append(f"{label}: generator {item.name!r} has no camera picture, skipped")
                continue
            record = item.range_in_parent()
            track_covered.append(record)
            speed, speed_note = _speed(item)
            still = _is_still(item) or speed == 0.0
            note = "still image: one shot, no motion" if _is_still(item) else speed_note
            if speed < 0:
                note = f"{speed_note}: reversed picture analysed as one shot without cuts"
            source = item.trimmed_range()
            for piece in _subtract(record, covered):
                offset = piece.start_time - record.start_time
                src_start = source.start_time + RationalTime(
                    offset.value * abs(speed or 1.0), offset.rate
                ).rescaled_to(source.start_time)
                visible.append(
                    PictureClip(
                        clip=item,
                        track_name=label,
                        record_range=piece,
                        source_range=TimeRange(
                            src_start,
                            RationalTime(
                                piece.duration.value * abs(speed or 1.0), piece.duration.rate
                            ).rescaled_to(source.start_time),
                        ),
                        speed=speed,
                        still=still,
                        note=note,
                    )
                )
                if piece != record:
                    notes.append(f"{label}: clip {item.name!r} partly hidden by a track above")
        covered.extend(track_covered)
    visible.sort(key=lambda p: p.record_range.start_time.to_seconds())
    return visible, notes
