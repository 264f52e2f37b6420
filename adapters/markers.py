"""The editor's sound prompts, read from markers wherever the editing tool put the text.

A marker is a prompt when its text starts with a prefix (``SFX:`` by default, any case) or
when it has one of the configured colours. Timeline, track and clip markers all count; clip
markers live in the clip's media time and are moved to timeline time here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import opentimelineio as otio

from sonicvision.events import Prompt

from .timecode import timecode

logger = logging.getLogger(__name__)

TimeRange = otio.opentime.TimeRange
RationalTime = otio.opentime.RationalTime


@dataclass(frozen=True)
class MarkerRule:
    """What makes a marker a sound prompt, and how long a zero-length one lasts."""

    prefix: str = "SFX:"
    colors: frozenset[str] = field(default_factory=frozenset)
    default_seconds: float = 2.0

    def prompt_text(self, texts: list[str], color: str) -> str | None:
        """The prompt's words; ``""`` for a prompt marker that says nothing; None if it is none."""
        for text in texts:
            if self.prefix and text.lower().startswith(self.prefix.lower()):
                return text[len(self.prefix) :].strip()
        if color.upper() in self.colors:
            return next((t.strip() for t in texts if t.strip()), "")
        return None


def marker_texts(marker: otio.schema.Marker) -> list[str]:
    """Every place a tool keeps a marker's words: name, comment, Resolve note, FCP comment."""
    md = marker.metadata
    candidates = [
        marker.name,
        marker.comment,
        _get(md, "Resolve_OTIO", "Note"),
        _get(md, "fcp_xml", "comment"),
        _get(md, "AAF", "Comment"),
        _get(md, "PremierePro_OTIO", "comment"),
    ]
    return [
        c.strip() for c in dict.fromkeys(c for c in candidates if isinstance(c, str)) if c.strip()
    ]


def _get(md, *keys):
    for key in keys:
        if not hasattr(md, "get"):
            return None
        md = md.get(key)
    return md


def is_instant(record: TimeRange) -> bool:
    """No length, or one frame (Avid exports its point markers so): a moment, not a span."""
    return record.duration.value <= 1 + 1e-9


def _span(record: TimeRange, rule: MarkerRule) -> TimeRange:
    if not is_instant(record):
        return record
    rate = record.start_time.rate
    return TimeRange(record.start_time, RationalTime(round(rule.default_seconds * rate), rate))


def _within_picture(
    prompts: list[Prompt], timeline: otio.schema.Timeline, notes: list[str]
) -> list[Prompt]:
    """Prompts clipped to the picture's end (with a note); one starting after it is skipped."""
    end = timeline.tracks.duration()
    kept = []
    for p in prompts:
        at = timecode(p.record_range.start_time, timeline)
        if p.record_range.start_time >= end:
            notes.append(f"prompt {p.text!r} at {at} starts after the picture ends: skipped")
            continue
        if p.record_range.end_time_exclusive() > end:
            clipped = TimeRange(p.record_range.start_time, end - p.record_range.start_time)
            notes.append(f"prompt {p.text!r} at {at} runs past the picture's end: clipped to it")
            p = replace(p, record_range=clipped)
        kept.append(p)
    return kept


def read_prompts(
    timeline: otio.schema.Timeline, rule: MarkerRule = MarkerRule()
) -> tuple[list[Prompt], list[str]]:
    """All prompt markers in timeline time, sorted, with notes on markers that were skipped."""
    prompts: list[Prompt] = []
    notes: list[str] = []
    stack = timeline.tracks

    def add(marker, record: TimeRange, scope: str) -> None:
        text = rule.prompt_text(marker_texts(marker), marker.color or "")
        if text is None:
            return
        if not text:
            at = timecode(record.start_time, timeline)
            notes.append(f"sound prompt marker {marker.name!r} at {at} has no words: skipped")
            return
        prompts.append(
            Prompt(
                text=text,
                record_range=_span(record, rule),
                marker_name=marker.name,
                scope=scope,
                color=marker.color or "",
                one_shot=is_instant(record),
            )
        )

    for marker in stack.markers:
        add(marker, marker.marked_range, "timeline")
    for track in stack:
        for marker in track.markers:
            add(marker, marker.marked_range, f"track:{track.name}")
        for clip in track.find_clips(shallow_search=False):
            for marker in clip.markers:
                if rule.prompt_text(marker_texts(marker), marker.color or "") is None:
                    continue
                trimmed = clip.trimmed_range()
                start = marker.marked_range.start_time
                if not trimmed.contains(start) and start != trimmed.start_time:
                    notes.append(
                        f"marker {marker.name!r} on clip {clip.name!r} lies outside the "
                        "clip's used range: ignored"
                    )
                    continue
                record = clip.transformed_time_range(marker.marked_range, stack)
                add(marker, record, f"clip:{clip.name}")
    prompts.sort(key=lambda p: (p.record_range.start_time.to_seconds(), p.text))
    return _within_picture(prompts, timeline, notes), notes
