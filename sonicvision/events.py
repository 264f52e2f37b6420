"""The data that flows: shots -> sound events -> rendered sound clips.

Times are OTIO ``RationalTime`` in timeline time (0 = first frame of the timeline's tracks;
the timeline's ``global_start_time`` is only added when a timecode is shown). Audio sample
positions are derived from these only when sound is rendered.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

import opentimelineio as otio

TimeRange = otio.opentime.TimeRange
RationalTime = otio.opentime.RationalTime


@dataclass(frozen=True)
class Shot:
    """A continuous camera take as it plays on the timeline (one clip may hold several)."""

    index: int
    clip_name: str
    media_path: Path | None
    source_range: TimeRange  # in the media's own time
    record_range: TimeRange  # in timeline time
    track_name: str = ""
    note: str = ""  # what was done with an unusual clip (still image, speed change, ...)
    first_frame: int = 0  # the shot's first frame in the media file
    frame_count: int = 0  # frames of the media file it uses (0 for a still)
    media_rate: float = 0.0  # the file's own rate
    speed: float = 1.0  # playback speed on the timeline (0: freeze frame)

    @property
    def rate(self) -> float:
        return self.record_range.duration.rate


class Origin(enum.StrEnum):
    """Where an event came from: the pictures, an editor's marker, or an edited cue."""

    DETECTED = "detected"
    MARKER = "marker"
    USER = "user"


@dataclass(frozen=True)
class Prompt:
    """An editor's sound prompt, read from a marker (e.g. ``SFX: dog barks off``)."""

    text: str
    record_range: TimeRange
    marker_name: str
    scope: str  # "timeline", "track:<name>" or "clip:<name>"
    color: str = ""
    one_shot: bool = False  # the marker had no length (or one frame): a sound on that frame


@dataclass
class SoundEvent:
    """One sound to render: what it is, when it happens, and where that knowledge came from."""

    text: str
    start: RationalTime
    end: RationalTime
    onscreen: bool
    origin: Origin
    confidence: float = 1.0
    continuous: bool = False
    shot_index: int | None = None
    text_source: str = ""  # "marker", "clip name", "shot name", "motion cue", "vlm", "cue"
    cue_id: str = ""  # stable id, so an edited cue marker re-renders only what changed
    one_shot: bool = False  # an instant the editor marked: one sound whose attack is on it
    placed_by: str = ""  # what placed an on-screen cue: "picture", "picture+audio", "audio"
    onset: RationalTime | None = None  # the attack to the sample, where the guide audio put it

    @property
    def attack(self) -> RationalTime:
        """Where the sound's onset lands: the guide's sample if it placed it, else ``start``."""
        return self.onset if self.onset is not None else self.start

    @property
    def duration(self) -> RationalTime:
        return self.end - self.start


@dataclass
class SoundClip:
    """A rendered sound, as a WAV on disk, placed on a timeline track."""

    event: SoundEvent
    path: Path
    record_range: TimeRange  # whole frames, timeline time
    track: str  # "onscreen" or "offscreen"
    generator: str = ""
    metadata: dict = field(default_factory=dict)
