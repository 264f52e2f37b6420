"""The embedded describer: which text each detected event gets, and where it came from."""

from __future__ import annotations

import opentimelineio as otio

from sonicvision.events import Shot
from sonicvision.server.describe import EmbeddedDescriber
from sonicvision.server.detect.base import EventInterval

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def _shot(name: str = "A001_C003.mov") -> Shot:
    span = TR(RT(0, 24), RT(240, 24))
    return Shot(0, name, None, span, span, "V1", first_frame=0, frame_count=240, media_rate=24.0)


def _impact(frame: int) -> EventInterval:
    return EventInterval(frame, frame + 5, False, 0.8, "impact")


def test_a_clip_name_that_names_a_sound_is_used():
    out = EmbeddedDescriber().describe(_shot("door_slam_tk2.mov"), [_impact(24)], [1.0])
    assert (out[0].source, "door" in out[0].text) == ("clip name", True)


def test_a_clip_name_that_only_names_a_thing_is_not_a_sound():
    # bikes.mp4 rendered every event as an engine; phone_dog_vfr.mp4 would bark at every step
    for name in ("bikes.mp4", "phone_dog_vfr.mp4", "car_interior.mov"):
        out = EmbeddedDescriber().describe(_shot(name), [_impact(24)], [1.0])
        assert out[0].source == "motion cue", name
    out = EmbeddedDescriber().describe(_shot("dog_barking.mov"), [_impact(24)], [1.0])
    assert out[0].source == "clip name"
