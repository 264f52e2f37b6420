"""The main job end to end on generated footage with known events, and its edges."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

from sonicvision.adapters.io import read_timeline
from sonicvision.adapters.media import MediaResolver
from sonicvision.cli import main
from sonicvision.errors import ConfigError, MediaError, SonicVisionError
from sonicvision.server.demo import make_demo_cut
from sonicvision.server.evaluate import evaluate_timeline
from sonicvision.server.frames import probe
from sonicvision.server.options import FoleyOptions
from sonicvision.server.pipeline import analyze, find_events, foley, render
from sonicvision.server.shots import scan_clip
from sonicvision.server.synthetic_scenes import ObjectSpec, SceneSpec, render_scene
from sonicvision.server.testing.cuts import cut_with_events

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


@pytest.mark.parametrize(
    "rate",
    [Fraction(24000, 1001), Fraction(30000, 1001), Fraction(25)],
    ids=["23.976", "29.97", "25"],
)
def test_rendered_onscreen_track_hits_the_frames(rate: Fraction, tmp_path: Path, capsys):
    cut, expected = cut_with_events(tmp_path, rate)
    result = foley(cut, tmp_path / "out.otio", FoleyOptions(seed=1))
    assert result.output.exists() and len(result.clips) >= len(expected)
    assert (
        main(["eval", str(result.output), "--expected", str(tmp_path / "expected.json"), "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["onset_acc"] >= 0.9, report
    assert report["iou"] >= 0.6, report
    back = read_timeline(result.output)
    assert back.global_start_time == cut_timeline_start(cut)


def cut_timeline_start(cut: Path):
    return otio.adapters.read_from_file(str(cut)).global_start_time


def test_analyze_then_render_honours_every_edit(tmp_path: Path):
    cut, expected = cut_with_events(tmp_path, Fraction(24))
    first = analyze(cut, tmp_path / "cues.otio", FoleyOptions())
    assert first.clips == [] and not any(True for _ in tmp_path.glob("cues_audio/*"))
    tl = otio.adapters.read_from_file(str(first.output))
    cues = [m for m in tl.tracks.markers if m.name.startswith("SV CUE:")]
    assert len(cues) >= 3
    # The editor: renames one, moves one 10 frames later and makes it longer, deletes one,
    # and adds an off-screen prompt.
    cues[0].name = "SV CUE: wooden crate lands"
    moved_from = cues[1].marked_range.start_time
    cues[1].marked_range = TR(moved_from + RT(10, 24), RT(36, 24))
    tl.tracks.markers.remove(cues[2])
    tl.tracks.markers.append(
        otio.schema.Marker(name="SFX: thunder rumble far", marked_range=TR(RT(5, 24), RT(48, 24)))
    )
    edited = tmp_path / "edited.otio"
    otio.adapters.write_to_file(tl, str(edited))
    second = render(edited, tmp_path / "final.otio", FoleyOptions())
    texts = sorted(c.event.text for c in second.clips)
    assert len(second.clips) == len(cues) - 1 + 1
    assert "wooden crate lands" in texts and "thunder rumble far" in texts
    moved = next(c for c in second.clips if c.event.start == moved_from + RT(10, 24))
    assert moved.event.end - moved.event.start == RT(36, 24)
    deleted_at = cues[2].marked_range.start_time
    assert not any(c.event.start == deleted_at and c.event.onscreen for c in second.clips)
    final = otio.adapters.read_from_file(str(second.output))
    assert [m.name for m in final.tracks.markers if m.name.startswith("SV CUE:")] == [
        m.name for m in tl.tracks.markers if m.name.startswith("SV CUE:")
    ]


def test_static_and_tiny_clips_make_no_events_and_do_not_crash(tmp_path: Path):
    rate = 25.0
    render_scene(
        SceneSpec.static(width=128, height=72, rate=rate, frames=50), tmp_path / "still.mp4"
    )
    render_scene(SceneSpec(width=128, height=72, rate=rate, frames=3), tmp_path / "tiny.mp4")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    for name, frames in (("still.mp4", 50), ("tiny.mp4", 2)):
        track.append(
            otio.schema.Clip(
                name=name,
                media_reference=otio.schema.ExternalReference(target_url=name),
                source_range=TR(RT(0, rate), RT(frames, rate)),
            )
        )
    track.append(
        otio.schema.Clip(
            name="zero",
            media_reference=otio.schema.ExternalReference(target_url="tiny.mp4"),
            source_range=TR(RT(0, rate), RT(0, rate)),
        )
    )
    tl = otio.schema.Timeline(tracks=[track])
    tl.tracks.markers.append(
        otio.schema.Marker(
            name="SFX: xylophone glissando of doom", marked_range=TR(RT(0, rate), RT(25, rate))
        )
    )
    cut = tmp_path / "quiet.otio"
    otio.adapters.write_to_file(tl, str(cut))
    result = foley(cut, tmp_path / "out.otio", FoleyOptions())
    assert [e.onscreen for e in result.analysis.events] == [False]
    (clip,) = result.clips
    assert clip.metadata.get("matched") is False  # no preset knows it: the fallback is said
    audio, sr = sf.read(str(clip.path))
    assert sr == 48_000 and np.max(np.abs(audio)) > 0.01


def test_corrupt_video_is_named_and_nothing_is_written(tmp_path: Path):
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(
        otio.schema.Clip(
            name="broken",
            media_reference=otio.schema.ExternalReference(target_url="broken.mp4"),
            source_range=TR(RT(0, 24), RT(24, 24)),
        )
    )
    cut = tmp_path / "cut.otio"
    otio.adapters.write_to_file(otio.schema.Timeline(tracks=[track]), str(cut))
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(MediaError) as err:
        foley(cut, tmp_path / "out.otio", FoleyOptions())
    assert "broken.mp4" in str(err.value)
    assert sorted(os.listdir(tmp_path)) == before


def test_existing_output_is_refused_before_any_work(tmp_path: Path):
    cut, _ = cut_with_events(tmp_path, Fraction(25))
    (tmp_path / "out.otio").write_text("previous render")
    with pytest.raises(SonicVisionError, match="already exists"):
        foley(cut, tmp_path / "out.otio", FoleyOptions())
    assert not (tmp_path / "out_audio").exists()
    assert (tmp_path / "out.otio").read_text() == "previous render"


def test_demo_cut_scores_its_own_ground_truth(tmp_path: Path):
    cut, expected = make_demo_cut(tmp_path)
    assert (
        read_timeline(cut).global_start_time.value == 86400
    )  # 01:00:00:00 at 23.976 counts 24 per second
    result = foley(cut, tmp_path / "demo.otio", FoleyOptions())
    rate = read_timeline(cut).global_start_time.rate
    report = evaluate_timeline(read_timeline(result.output), expected, rate)
    assert report.onset_acc >= 0.9 and report.iou >= 0.6, report.to_dict()
    assert any(not e.onscreen and "traffic" in e.text for e in result.analysis.events)


def test_the_report_says_per_shot_what_was_turned_down_and_why(tmp_path: Path):
    cut, _expected = make_demo_cut(tmp_path)
    strict = FoleyOptions(detector="motion:min_confidence=0.999")
    result = analyze(cut, tmp_path / "cues.otio", strict)
    assert not [e for e in result.analysis.events if e.onscreen and not e.continuous]
    rows = result.analysis.turned_down
    assert sum(r.reasons.get("low confidence", 0) for r in rows) >= 3  # the demo's impacts
    shots = {s.index: s for s in result.analysis.shots}
    for row in rows:
        assert row.record_in.startswith("01:00:") and row.shot in shots and row.reasons
    summary = result.summary()
    assert summary["turned_down"] == [r.to_dict() for r in rows]
    (note,) = [n for n in summary["notes"] if n.startswith("turned down")]
    assert "low confidence" in note and f"in {len(rows)} shots" in note
    plain = analyze(cut, tmp_path / "plain.otio", FoleyOptions())
    low = sum(r.reasons.get("low confidence", 0) for r in plain.analysis.turned_down)
    assert low == 0


def test_min_confidence_leaves_out_unsure_impacts_after_the_guide_and_says_so(tmp_path: Path):
    cut, _expected = make_demo_cut(tmp_path)
    plain = analyze(cut, tmp_path / "plain.otio", FoleyOptions())
    impacts = [e for e in plain.analysis.events if e.onscreen and not e.continuous]
    assert len(impacts) >= 3
    floor = sorted(e.confidence for e in impacts)[1] + 1e-6  # above the two least sure
    sure = analyze(cut, tmp_path / "sure.otio", FoleyOptions(min_confidence=floor))
    kept = [e for e in sure.analysis.events if e.onscreen and not e.continuous]
    expected = [e.start for e in impacts if e.confidence >= floor]
    assert [e.start for e in kept] == expected and 0 < len(expected) <= len(impacts) - 2
    continuous = [e.start for e in plain.analysis.events if e.continuous and e.onscreen]
    assert [e.start for e in sure.analysis.events if e.continuous and e.onscreen] == continuous
    dropped = sum(r.reasons.get("below --min-confidence", 0) for r in sure.analysis.turned_down)
    assert dropped == len(impacts) - len(expected)
    with pytest.raises(ConfigError, match="min_confidence is 1.5"):
        FoleyOptions(min_confidence=1.5).check()


def test_min_confidence_on_the_command_line_the_wire_and_a_stored_job(tmp_path: Path, capsys):
    from sonicvision.server.service.wire import options_from_message, options_message

    for value in (0.0, 0.35, 1.0):
        options, _ = options_from_message(options_message(FoleyOptions(min_confidence=value)))
        assert options.min_confidence == value
        assert FoleyOptions.from_dict(FoleyOptions(min_confidence=value).to_dict()) == options
    message = options_message(FoleyOptions(min_confidence=0.4))
    message.ClearField("min_confidence")
    assert options_from_message(message)[0].min_confidence == 0.0
    cut, _expected = make_demo_cut(tmp_path)
    out = tmp_path / "cues.otio"
    assert main(["analyze", str(cut), "-o", str(out), "--min-confidence", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    reasons = [r["reasons"] for r in report["turned_down"]]
    assert sum(r.get("below --min-confidence", 0) for r in reasons) >= 3
    assert main(["analyze", str(cut), "-o", str(tmp_path / "x.otio"), "--min-confidence", "2"])
    assert "min_confidence is 2.0" in capsys.readouterr().err
    assert not (tmp_path / "x.otio").exists()


# --- handles: the frames of the take around a clip ----------------------------------------


@pytest.mark.parametrize(
    ("first", "count", "before", "after"),
    [
        (30, 20, 0, 3),  # the in point is the source's camera cut: nothing before counts
        (32, 20, 2, 3),  # two frames of the take before the in point
        (10, 20, 3, 0),  # the out point is the camera cut
        (1, 10, 1, 3),  # the file starts one frame before the in point
        (50, 10, 3, 0),  # the file ends at the out point
    ],
)
def test_scan_hands_over_the_take_around_a_clip(tmp_path: Path, first, count, before, after):
    spec = SceneSpec(128, 72, 25, 60, cut_at=[30], camera_pan_px_per_frame=1.0, seed=2)
    truth = render_scene(spec, tmp_path / "take.mp4")
    info = probe(truth.path)
    lead, tail = min(3, first), min(3, info.frame_count - first - count)
    seen: list[np.ndarray] = []
    spans = list(
        scan_clip(truth.path, first, count, info, on_frame=seen.append, lead=lead, tail=tail)
    )
    assert [(s.first, s.count, s.before, s.after) for s in spans] == [(first, count, before, after)]
    assert len(seen) == count + lead + tail  # every decoded frame went to the detector


def test_a_cut_on_action_gets_its_sound_on_the_first_frame(tmp_path: Path):
    # The editor cut into the take on the contact frame: the sound starts with the picture.
    spec = SceneSpec(256, 144, 25, 60, objects=[ObjectSpec("fall", 8, 24, x=0.4)], seed=4)
    truth = render_scene(spec, tmp_path / "fall.mp4")
    (landing,) = [e.onset_frame for e in truth.impacts]
    tl = otio.schema.Timeline(name="cut on action")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    track.append(otio.schema.Gap(source_range=tr(rt(0, 25), rt(25, 25))))
    track.append(
        otio.schema.Clip(
            name="fall",
            media_reference=otio.schema.ExternalReference(target_url=truth.path.name),
            source_range=tr(rt(landing, 25), rt(30, 25)),
        )
    )
    tl.tracks.append(track)
    cut = tmp_path / "cut.otio"
    otio.adapters.write_to_file(tl, str(cut))
    analysis = find_events(tl, MediaResolver(cut), FoleyOptions())
    impacts = [e for e in analysis.events if e.onscreen and not e.continuous]
    assert [e.start.value for e in impacts] == [25], [(e.start, e.text) for e in analysis.events]
