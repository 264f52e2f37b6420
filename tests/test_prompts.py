"""What the editor asked for, exactly: SFX prompts, one-shots, and what could not be matched."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import soundfile as sf

from sonicvision.adapters.io import read_timeline
from sonicvision.adapters.markers import read_prompts
from sonicvision.adapters.tracks import our_tracks
from sonicvision.server.options import FoleyOptions
from sonicvision.server.pipeline import foley, render
from sonicvision.server.testing.cuts import cut_with_events

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def _with_markers(cut: Path, *markers: otio.schema.Marker) -> Path:
    timeline = otio.adapters.read_from_file(str(cut))
    timeline.tracks.markers.extend(markers)
    path = cut.with_name("marked.otio")
    otio.adapters.write_to_file(timeline, str(path))
    return path


def _clips(result: Path, kind: str):
    return [c for t in our_tracks(read_timeline(result)) if t.kind == kind for c in t.clips]


def _first_loud_s(clip) -> float:
    audio, rate = sf.read(str(clip.path), always_2d=True)
    return (
        np.argmax(np.abs(audio).max(axis=1) > 1e-3) / rate
        + clip.record_range.start_time.to_seconds()
    )


def test_a_prompt_over_a_detected_motion_is_rendered_off_screen_over_its_span(tmp_path):
    # The held-out cut: "SFX: distant dog barking" over 3 s sits on a detected fall. It was
    # taken as that fall's name and nothing was rendered off screen.
    cut, expected = cut_with_events(tmp_path, Fraction(25))
    on = expected[0]["onset_s"]
    span = TR(RT(round((on - 0.2) * 25), 25), RT(75, 25))
    marked = _with_markers(
        cut, otio.schema.Marker(name="SFX: distant dog barking", marked_range=span)
    )
    result = foley(marked, tmp_path / "out.otio", FoleyOptions())
    (off,) = _clips(result.output, "offscreen")
    assert off.event["text"] == "distant dog barking" and not off.event["onscreen"]
    assert off.record_range == span  # exactly the marker's span
    onscreen = _clips(result.output, "onscreen")
    assert onscreen and all("dog" not in c.event["text"] for c in onscreen)
    assert any(abs(c.record_range.start_time.to_seconds() - on) < 0.2 for c in onscreen)


def _blank(tmp_path: Path, *markers: otio.schema.Marker, seconds: int = 8) -> Path:
    timeline = otio.schema.Timeline(name="prompts")
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Gap(duration=RT(seconds * 24, 24)))
    timeline.tracks.append(track)
    timeline.tracks.markers.extend(markers)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "prompts.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


def test_a_zero_length_prompt_is_a_one_shot_whose_attack_lands_on_its_frame(tmp_path):
    cut = _blank(
        tmp_path,
        otio.schema.Marker(name="SFX: door slam", marked_range=TR(RT(48, 24), RT(0, 24))),
        otio.schema.Marker(name="SFX: gunshot", marked_range=TR(RT(100, 24), RT(1, 24))),  # Avid
        otio.schema.Marker(name="SFX: rain on window", marked_range=TR(RT(130, 24), RT(1, 24))),
    )
    result = foley(cut, tmp_path / "out.otio", FoleyOptions())
    clips = {c.event["text"]: c for c in _clips(result.output, "offscreen")}
    for text, frame in (("door slam", 48), ("gunshot", 100)):
        clip = clips[text]
        assert not clip.event["continuous"], text
        assert abs(_first_loud_s(clip) - frame / 24) < 0.004, text  # the attack, on the frame
        assert clip.record_range.duration.to_seconds() < 2.0, text  # its own length, not 2 s
    rain = clips["rain on window"]
    assert rain.event["continuous"]
    assert rain.record_range.duration.to_seconds() == 2.0  # --marker-seconds, not one frame


def test_a_prompt_nothing_matches_is_said_out_loud(tmp_path):
    cut = _blank(
        tmp_path,
        otio.schema.Marker(name="SFX: xqzt flumph", marked_range=TR(RT(24, 24), RT(24, 24))),
    )
    result = foley(cut, tmp_path / "out.otio", FoleyOptions())
    assert any("xqzt flumph" in n and "no matching sound" in n for n in result.analysis.notes)
    matched = foley(
        _blank(
            tmp_path / "b",
            otio.schema.Marker(name="SFX: thunder", marked_range=TR(RT(24, 24), RT(24, 24))),
        ),
        tmp_path / "b.otio",
        FoleyOptions(),
    )
    assert not any("no matching sound" in n for n in matched.analysis.notes)


def test_empty_and_late_prompts_are_reported_not_dropped(tmp_path):
    cut = _blank(
        tmp_path,
        otio.schema.Marker(name="SFX:", marked_range=TR(RT(10, 24), RT(24, 24))),
        otio.schema.Marker(name="SFX: wind", marked_range=TR(RT(180, 24), RT(48, 24))),
        otio.schema.Marker(name="SFX: owl", marked_range=TR(RT(400, 24), RT(24, 24))),
        seconds=8,
    )
    prompts, notes = read_prompts(read_timeline(cut))
    assert any("has no words" in n for n in notes)
    assert any("'wind'" in n and "clipped" in n for n in notes)
    assert any("'owl'" in n and "after the picture ends" in n for n in notes)
    (wind,) = prompts
    assert wind.record_range.end_time_exclusive() == RT(192, 24)  # the picture's end


def test_a_cue_the_editor_added_is_an_on_screen_sound_not_off(tmp_path):
    cut = _blank(
        tmp_path,
        otio.schema.Marker(name="SV CUE: glass set down", marked_range=TR(RT(24, 24), RT(6, 24))),
    )
    result = render(cut, tmp_path / "out.otio", FoleyOptions())
    (clip,) = _clips(result.output, "onscreen")
    assert not clip.path.name.startswith("OFF_")
