"""The embedded describer: which text each detected event gets, and where it came from."""

from __future__ import annotations

import opentimelineio as otio

from sonicvision.events import Prompt, Shot
from sonicvision.server.describe import MOTION_CUES, EmbeddedDescriber
from sonicvision.server.detect.base import EventInterval

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def _shot(name: str = "A001_C003.mov") -> Shot:
    span = TR(RT(0, 24), RT(240, 24))
    return Shot(0, name, None, span, span, "V1", first_frame=0, frame_count=240, media_rate=24.0)


def _marker(seconds: float, text: str) -> Prompt:
    return Prompt(text, TR(RT(round(seconds * 24), 24), RT(48, 24)), f"SFX: {text}", "timeline")


def _impact(frame: int) -> EventInterval:
    return EventInterval(frame, frame + 5, False, 0.8, "impact")


def test_a_marker_names_only_the_event_nearest_it():
    # Two impacts 0.4 s apart and one marker between them, nearer the second: the editor
    # named one sound; the other keeps its own cue.
    events, seconds = [_impact(24), _impact(34)], [1.0, 1.4]
    out = EmbeddedDescriber().describe(_shot(), events, seconds, [_marker(1.3, "glass breaks")])
    assert [(d.text, d.source) for d in out] == [
        (MOTION_CUES["impact"], "motion cue"),
        ("glass breaks", "marker"),
    ]


def test_each_event_takes_its_own_nearest_marker():
    events, seconds = [_impact(24), _impact(34)], [1.0, 1.4]
    prompts = [_marker(1.35, "cup lands"), _marker(1.1, "spoon drops")]
    out = EmbeddedDescriber().describe(_shot(), events, seconds, prompts)
    assert [d.text for d in out] == ["spoon drops", "cup lands"]
    assert [d.marker for d in out] == [prompts[1], prompts[0]]


def test_without_a_marker_a_clip_name_that_names_a_sound_is_used():
    out = EmbeddedDescriber().describe(_shot("door_slam_tk2.mov"), [_impact(24)], [1.0], [])
    assert (out[0].source, "door" in out[0].text) == ("clip name", True)
    far = [_marker(2.0, "glass breaks")]  # 1 s away: not this event's
    assert EmbeddedDescriber().describe(_shot(), [_impact(24)], [1.0], far)[0].marker is None
