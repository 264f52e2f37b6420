"""Editor timelines in and out: every shared fixture, the rate matrix, and hostile input."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import opentimelineio as otio
import pytest
from conftest import fixture_files, fixture_rate, link_stand_in_media, write_video, write_wav

from sonicvision.adapters import (
    MediaNotFoundError,
    TimelineReadError,
    TimelineWriteError,
    read_timeline,
    write_timeline,
)
from sonicvision.adapters.markers import MarkerRule, read_prompts
from sonicvision.adapters.media import MediaResolver, PathMapping
from sonicvision.adapters.timecode import timecode
from sonicvision.adapters.tracks import CueMarker, add_sound_tracks, strip_ours
from sonicvision.errors import SonicVisionError
from sonicvision.events import Origin, SoundClip, SoundEvent
from sonicvision.server.shots import find_shots

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
FIXTURES = fixture_files()


def as_json(timeline: otio.schema.Timeline) -> dict:
    return json.loads(otio.adapters.write_to_string(timeline, "otio_json"))


def same_as_json(a: otio.schema.Timeline, b: otio.schema.Timeline) -> bool:
    """Equal as otio_json. OTIO's own writer prints some floats one ulp off (0.39092017062766604
    comes back as 0.3909201706276661 with no SonicVision code involved), so floats compare
    to 1e-15 relative; everything else must be identical."""

    def same(x, y) -> bool:
        if isinstance(x, float) or isinstance(y, float):
            return (
                isinstance(x, int | float)
                and isinstance(y, int | float)
                and math.isclose(x, y, rel_tol=1e-15)
            )
        if isinstance(x, dict):
            return isinstance(y, dict) and x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
        if isinstance(x, list):
            return isinstance(y, list) and len(x) == len(y) and all(map(same, x, y))
        return x == y

    return same(as_json(a), as_json(b))


def sound(
    tmp: Path, name: str, start: int, frames: int, rate: float, track="onscreen"
) -> SoundClip:
    event = SoundEvent(
        text=name,
        start=RT(start, rate),
        end=RT(start + frames, rate),
        onscreen=track == "onscreen",
        origin=Origin.DETECTED,
    )
    wav = write_wav(tmp / f"{name}.wav", frames / rate + 0.01)
    return SoundClip(
        event=event, path=wav, record_range=TR(RT(start, rate), RT(frames, rate)), track=track
    )


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_round_trip_keeps_everything_the_editor_had(path: Path, tmp_path: Path):
    original = read_timeline(path, rate=fixture_rate(path))
    rate = (original.global_start_time or RT(0, fixture_rate(path) or 24)).rate
    clips = [
        sound(tmp_path, "door slam", 10, 12, rate),
        sound(tmp_path, "glass clink", 15, 5, rate),  # overlaps: goes to a second lane
        sound(tmp_path, "distant traffic", 0, 48, rate, track="offscreen"),
    ]
    cue = CueMarker(clips[0].event, clips[0].record_range)
    result = add_sound_tracks(original, clips, [cue])
    out = write_timeline(result, tmp_path / "result.otio", inputs=[path])
    back = otio.adapters.read_from_file(str(out))

    assert same_as_json(strip_ours(back), original)
    added = [t for t in back.tracks if "sonicvision" in t.metadata]
    assert [t.name for t in added] == [
        "SV On-screen Foley",
        "SV On-screen Foley 2",
        "SV Off-screen",
    ]
    placed = {c.name: c.range_in_parent() for t in added for c in t.find_clips()}
    assert placed["door slam.wav"] == TR(RT(10, rate), RT(12, rate))
    assert placed["glass clink.wav"] == TR(RT(15, rate), RT(5, rate))
    assert placed["distant traffic.wav"] == TR(RT(0, rate), RT(48, rate))
    ref = added[0].find_clips()[0].media_reference
    assert ref.available_range.duration.value >= 12
    assert ref.metadata["sonicvision"]["sample_rate"] == 48_000
    assert Path(otio.url_utils.filepath_from_url(ref.target_url)).is_file()
    assert [m.name for m in back.tracks.markers if "sonicvision" in m.metadata] == [
        "SV CUE: door slam"
    ]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_shots_on_stand_in_media(path: Path, tmp_path: Path):
    timeline = read_timeline(path, rate=fixture_rate(path))
    made = link_stand_in_media(timeline, tmp_path)
    resolver = MediaResolver(path, media_roots=[tmp_path])
    shots = find_shots(timeline, resolver, allow_missing=True)
    # Stand-ins have no cuts: one shot per visible clip, tiling each clip's record range.
    assert len(shots.shots) + len(shots.skipped) >= len(made) > 0 or not made
    for shot in shots.shots:
        assert shot.media_path is not None and shot.media_path.parent == tmp_path
        assert shot.record_range.duration.value > 0
    ends = [(s.record_range.start_time, s.record_range.end_time_exclusive()) for s in shots.shots]
    assert ends == sorted(ends)
    for (_, end), (start, _) in zip(ends, ends[1:], strict=False):
        assert end <= start, "shots overlap on the timeline"


def test_hiero_clip_without_media_is_named_and_skippable(tmp_path: Path):
    path = next(p for p in FIXTURES if p.name == "hiero_xml_export.xml")
    timeline = read_timeline(path)
    link_stand_in_media(timeline, tmp_path)
    with pytest.raises(MediaNotFoundError) as err:
        find_shots(timeline, MediaResolver(path, [tmp_path]))
    assert "'/'" in str(err.value)
    shots = find_shots(timeline, MediaResolver(path, [tmp_path]), allow_missing=True)
    assert shots.skipped == ["/"] and len(shots.shots) == 1


def test_edl_needs_a_rate_and_a_wrong_rate_is_named():
    edl = next(p for p in FIXTURES if p.name == "25fps.edl")
    with pytest.raises(TimelineReadError, match="--rate"):
        read_timeline(edl)
    with pytest.raises(TimelineReadError, match="at --rate 24") as err:
        read_timeline(edl, rate=24)
    assert "25fps.edl" in str(err.value)
    assert read_timeline(edl, rate="25").tracks


RATES = [
    ("23.976", 24000 / 1001, False),
    ("24", 24.0, False),
    ("25", 25.0, False),
    ("29.97DF", 30000 / 1001, True),
    ("29.97NDF", 30000 / 1001, False),
    ("30", 30.0, False),
    ("50", 50.0, False),
    ("59.94", 60000 / 1001, True),
]


def built_timeline(rate: float, start_hour: bool) -> otio.schema.Timeline:
    tl = otio.schema.Timeline(name=f"cut {rate:.3f}")
    if start_hour:
        tl.global_start_time = otio.opentime.from_timecode("01:00:00:00", rate)
    else:
        tl.global_start_time = RT(0, rate)
    video = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for i, length in enumerate((37, 113, 61)):
        ref = otio.schema.ExternalReference(
            target_url=f"shot{i}.mov", available_range=TR(RT(0, rate), RT(500, rate))
        )
        clip = otio.schema.Clip(
            name=f"shot{i}", media_reference=ref, source_range=TR(RT(11, rate), RT(length, rate))
        )
        clip.metadata["PremierePro_OTIO"] = {"keep": [1, 2, {"me": True}]}
        video.append(clip)
        if i == 0:
            video.append(otio.schema.Gap(duration=RT(7, rate)))
    tl.tracks.append(video)
    tl.tracks.markers.append(
        otio.schema.Marker(name="SFX: thunder far away", marked_range=TR(RT(40, rate), RT(0, rate)))
    )
    return tl


@pytest.mark.parametrize("label,rate,drop", RATES, ids=[r[0] for r in RATES])
@pytest.mark.parametrize("start_hour", [False, True], ids=["start0", "start1h"])
def test_rate_matrix_placement_is_frame_exact(label, rate, drop, start_hour, tmp_path: Path):
    tl = built_timeline(rate, start_hour)
    clips = [sound(tmp_path, f"e{f}", f, 3, rate) for f in (0, 3, 13, 157, 1799)]
    path = write_timeline(add_sound_tracks(tl, clips), tmp_path / "out.otio")
    back = otio.adapters.read_from_file(str(path))
    assert same_as_json(strip_ours(back), tl)
    foley = next(
        t for t in back.tracks if t.metadata.get("sonicvision", {}).get("kind") == "onscreen"
    )
    starts = [c.range_in_parent().start_time for c in foley.find_clips()]
    assert [s.value for s in starts] == [0, 3, 13, 157, 1799]
    assert all(s.rate == rate for s in starts)
    # Timecodes shown to the editor include the timeline's start and respect drop frame.
    tc = timecode(starts[-1], back, drop_frame=drop)
    expected = otio.opentime.to_timecode(starts[-1] + back.global_start_time, rate, drop)
    assert tc == expected
    assert tc.startswith("01:") == start_hour
    assert (";" in tc) == drop


def test_cuts_inside_a_clip_become_shots_at_record_frames(tmp_path: Path):
    rate = 24000 / 1001
    media = write_video(tmp_path / "take.mov", 120, rate, cuts=(30, 75), size=(96, 54))
    tl = otio.schema.Timeline(name="cuts")
    tl.global_start_time = otio.opentime.from_timecode("01:00:00:00", rate)
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Gap(duration=RT(10, rate)))
    track.append(
        otio.schema.Clip(
            name="take",
            media_reference=otio.schema.ExternalReference(target_url=media.name),
            source_range=TR(RT(20, rate), RT(80, rate)),  # source frames 20..99: cuts at 30, 75
        )
    )
    tl.tracks.append(track)
    (tmp_path / "cut.otio").write_text(otio.adapters.write_to_string(tl, "otio_json"))
    shots = find_shots(tl, MediaResolver(tmp_path / "cut.otio")).shots
    assert [(s.record_range.start_time.value, s.record_range.duration.value) for s in shots] == [
        (10, 10),
        (20, 45),
        (65, 25),
    ]
    assert [s.source_range.start_time.value for s in shots] == [20, 30, 75]


def test_topmost_track_wins_and_overlays_do_not_hide(tmp_path: Path):
    rate = 25.0
    for name in ("a.mov", "b.mov"):
        write_video(tmp_path / name, 100, rate)
    tl = otio.schema.Timeline()
    v1 = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    v1.append(
        otio.schema.Clip(
            name="a",
            media_reference=otio.schema.ExternalReference(target_url=str(tmp_path / "a.mov")),
            source_range=TR(RT(0, rate), RT(100, rate)),
        )
    )
    v2 = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    v2.append(otio.schema.Gap(duration=RT(40, rate)))
    v2.append(
        otio.schema.Clip(
            name="b",
            media_reference=otio.schema.ExternalReference(target_url=str(tmp_path / "b.mov")),
            source_range=TR(RT(0, rate), RT(20, rate)),
        )
    )
    v2.append(
        otio.schema.Clip(
            name="title",
            media_reference=otio.schema.GeneratorReference(generator_kind="Title"),
            source_range=TR(RT(0, rate), RT(20, rate)),
        )
    )
    tl.tracks.extend([v1, v2])
    result = find_shots(tl, MediaResolver(None))
    got = [
        (s.clip_name, s.record_range.start_time.value, s.record_range.duration.value)
        for s in result.shots
    ]
    assert got == [("a", 0, 40), ("b", 40, 20), ("a", 60, 40)]
    assert got[2] and result.shots[2].source_range.start_time.value == 60
    assert any("generator 'title'" in n for n in result.notes)


def test_speed_change_freeze_and_still_do_not_crash(tmp_path: Path):
    rate = 24.0
    write_video(tmp_path / "fast.mov", 200, rate)
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "card.png"), np.zeros((36, 64, 3), np.uint8))
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    fast = otio.schema.Clip(
        name="fast",
        media_reference=otio.schema.ExternalReference(target_url=str(tmp_path / "fast.mov")),
        source_range=TR(RT(0, rate), RT(50, rate)),
    )
    fast.effects.append(otio.schema.LinearTimeWarp(time_scalar=2.0))
    frozen = otio.schema.Clip(
        name="frozen",
        media_reference=otio.schema.ExternalReference(target_url=str(tmp_path / "fast.mov")),
        source_range=TR(RT(10, rate), RT(24, rate)),
    )
    frozen.effects.append(otio.schema.FreezeFrame())
    card = otio.schema.Clip(
        name="card",
        media_reference=otio.schema.ExternalReference(target_url=str(tmp_path / "card.png")),
        source_range=TR(RT(0, rate), RT(48, rate)),
    )
    track.extend([fast, frozen, card])
    tl = otio.schema.Timeline(tracks=[track])
    shots = find_shots(tl, MediaResolver(None)).shots
    assert [s.clip_name for s in shots] == ["fast", "frozen", "card"]
    assert shots[0].note == "speed 2x" and shots[0].source_range.duration.value == 100
    assert "freeze" in shots[1].note and "still" in shots[2].note


def test_prompts_from_every_place_tools_keep_marker_text():
    rate = 24.0
    tl = built_timeline(rate, start_hour=True)
    resolve = otio.schema.Marker(name="Marker 1", marked_range=TR(RT(5, rate), RT(24, rate)))
    resolve.metadata["Resolve_OTIO"] = {"Note": "sfx: Door slams off"}
    fcp = otio.schema.Marker(name="", marked_range=TR(RT(80, rate), RT(0, rate)), color="GREEN")
    fcp.metadata["fcp_xml"] = {"comment": "wind gust"}
    tl.tracks.markers.extend([resolve, fcp])
    clip = tl.tracks[0][2]  # shot1: source starts at 11, plays from record frame 44
    clip.markers.append(
        otio.schema.Marker(name="SFX: cup set down", marked_range=TR(RT(21, rate), RT(6, rate)))
    )
    clip.markers.append(
        otio.schema.Marker(name="SFX: before trim", marked_range=TR(RT(2, rate), RT(1, rate)))
    )
    tl.tracks[0].markers.append(
        otio.schema.Marker(name="not a prompt", marked_range=TR(RT(1, rate), RT(1, rate)))
    )
    prompts, notes = read_prompts(tl, MarkerRule(colors=frozenset({"GREEN"}), default_seconds=1.5))
    got = [
        (p.text, p.record_range.start_time.value, p.record_range.duration.value, p.scope)
        for p in prompts
    ]
    assert got == [
        ("Door slams off", 5, 24, "timeline"),
        ("thunder far away", 40, 36, "timeline"),
        ("cup set down", 54, 6, "clip:shot1"),
        ("wind gust", 80, 36, "timeline"),
    ]
    assert any("before trim" in n for n in notes)


def test_premiere_xml_marker_comments_and_colours():
    path = next(p for p in FIXTURES if p.name == "premiere_example.xml")
    prompts, _ = read_prompts(read_timeline(path), MarkerRule(prefix="so,", colors=frozenset()))
    assert [p.text for p in prompts] == ["this happened"]  # from the FCP XML <comment>
    prompts, _ = read_prompts(read_timeline(path), MarkerRule(prefix="", colors=frozenset({"RED"})))
    assert [p.text for p in prompts] == ["My MArker 1", "dsf"]


def test_media_resolution_order_and_mappings(tmp_path: Path):
    (tmp_path / "mnt" / "media").mkdir(parents=True)
    target = write_video(tmp_path / "mnt" / "media" / "A001.mov", 5, 24)
    clip = otio.schema.Clip(
        name="A001",
        media_reference=otio.schema.ExternalReference(target_url="file:///Volumes/Media/A001.mov"),
    )
    mapped = MediaResolver(None, mappings=[f"/Volumes/Media={tmp_path / 'mnt' / 'media'}"])
    assert mapped.resolve(clip) == target
    win = otio.schema.Clip(
        name="x",
        media_reference=otio.schema.ExternalReference(
            target_url="file://localhost/D%3a/media/A001.mov"
        ),
    )
    assert MediaResolver(None, media_roots=[tmp_path]).resolve(win) == target
    with pytest.raises(MediaNotFoundError) as err:
        MediaResolver(None).resolve(clip)
    assert "/Volumes/Media/A001.mov" in str(err.value) and "A001" in str(err.value)
    with pytest.raises(SonicVisionError, match="FROM|EDITOR_PREFIX"):
        PathMapping.parse("no-equals-sign")


MALFORMED = {
    ".otio": '{"OTIO_SCHEMA": "Timeline.1", "tracks": ',
    ".xml": "<xmeml version='4'><sequence><name>x</name><media>",
    ".edl": "TITLE: broken\n001  AX  V  C  01:00:00:00 garbage\n",
    ".aaf": "this is not a compound file",
}


@pytest.mark.parametrize("suffix", sorted(MALFORMED))
def test_malformed_files_give_a_clear_error_and_write_nothing(suffix: str, tmp_path: Path):
    bad = tmp_path / f"broken{suffix}"
    bad.write_text(MALFORMED[suffix])
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(TimelineReadError) as err:
        read_timeline(bad, rate=24)
    assert str(bad) in str(err.value)
    assert isinstance(err.value, otio.exceptions.OTIOError)
    assert sorted(os.listdir(tmp_path)) == before


def test_unknown_extension_and_missing_file(tmp_path: Path):
    odd = tmp_path / "cut.docx"
    odd.write_text("x")
    with pytest.raises(TimelineReadError, match="unknown timeline format '.docx'"):
        read_timeline(odd)
    with pytest.raises(TimelineReadError, match="does not exist"):
        read_timeline(tmp_path / "nope.otio")


def test_hostile_output_paths_are_refused_and_leave_nothing(tmp_path: Path):
    src = tmp_path / "cut.otio"
    tl = built_timeline(24.0, True)
    src.write_text(otio.adapters.write_to_string(tl, "otio_json"))
    original = src.read_bytes()
    (tmp_path / "link.otio").symlink_to(src)
    (tmp_path / "taken.otio").write_text("previous render")
    cases = {
        src: "is the input",
        tmp_path / "sub" / ".." / "cut.otio": "is the input",
        tmp_path / "link.otio": "symbolic link",
        tmp_path / "taken.otio": "already exists",
        tmp_path / "missing-dir" / "out.otio": "folder does not exist",
        tmp_path / "out.edl": "cannot hold",
        tmp_path / "out.docx": "unknown timeline format",
        Path(str(tmp_path / "bad\x00name.otio")): "NUL",
    }
    (tmp_path / "sub").mkdir()
    before = sorted(os.listdir(tmp_path))
    for out, message in cases.items():
        with pytest.raises(TimelineWriteError, match=message):
            write_timeline(tl, out, inputs=[src])
    assert sorted(os.listdir(tmp_path)) == before
    assert src.read_bytes() == original
    assert (tmp_path / "taken.otio").read_text() == "previous render"


def test_failed_write_leaves_no_partial_file(tmp_path: Path, monkeypatch):
    tl = built_timeline(24.0, False)

    def explode(*_a, **_k):
        Path(_a[1]).write_text("half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(otio.adapters, "write_to_file", explode)
    with pytest.raises(TimelineWriteError, match="disk full"):
        write_timeline(tl, tmp_path / "out.otio")
    assert os.listdir(tmp_path) == []


def test_fcp_xml_output_keeps_editor_clips_and_adds_tracks(tmp_path: Path):
    path = next(p for p in FIXTURES if p.name == "premiere_example.xml")
    original = read_timeline(path)
    clips = [sound(tmp_path, "door slam", 30, 12, 30.0)]
    out = write_timeline(add_sound_tracks(original, clips), tmp_path / "result.xml", inputs=[path])
    back = read_timeline(out)
    names = lambda t: sorted(c.name for c in t.find_clips())  # noqa: E731
    assert names(back) == sorted(names(original) + ["door slam.wav"])
    audio = [
        t for t in back.audio_tracks() if any(c.name == "door slam.wav" for c in t.find_clips())
    ]
    assert (
        audio
        and [c for c in audio[0].find_clips() if c.name == "door slam.wav"][0]
        .range_in_parent()
        .start_time.value
        == 30
    )


@pytest.mark.parametrize(
    "text,fps",
    [
        ("23.976", 24000 / 1001),
        ("29.97 DF", 30000 / 1001),
        ("29.97 NDF", 30000 / 1001),
        ("24000/1001", 24000 / 1001),
        ("25", 25.0),
        ("59.94", 60000 / 1001),
    ],
)
def test_rates_as_editors_write_them(text: str, fps: float):
    from sonicvision.adapters.timecode import parse_rate

    assert parse_rate(text) == pytest.approx(fps, abs=1e-12)


@pytest.mark.parametrize("text", ["fast", "0", "1/0", "2000"])
def test_bad_rates_are_named(text: str):
    from sonicvision.adapters.timecode import parse_rate

    with pytest.raises(TimelineReadError, match="rate"):
        parse_rate(text)


def test_nested_sequence_is_opened_and_trimmed(tmp_path: Path):
    rate = 25.0
    write_video(tmp_path / "inner.mov", 200, rate)
    inner_track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    inner_track.append(otio.schema.Gap(duration=RT(3, rate)))
    inner_track.append(
        otio.schema.Clip(
            name="inner",
            media_reference=otio.schema.ExternalReference(target_url=str(tmp_path / "inner.mov")),
            source_range=TR(RT(100, rate), RT(50, rate)),
        )
    )
    nest = otio.schema.Stack(name="nest", source_range=TR(RT(5, rate), RT(20, rate)))
    nest.append(inner_track)
    outer = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    outer.append(otio.schema.Gap(duration=RT(10, rate)))
    outer.append(nest)
    tl = otio.schema.Timeline(tracks=[outer])
    shots = find_shots(tl, MediaResolver(None)).shots
    # The nest shows inner's frames 2..21 of its own time (inner starts at nest frame 3):
    # nest frame 5 is inner source 102, played at record frame 10.
    assert [(s.clip_name, s.record_range, s.source_range.start_time.value) for s in shots] == [
        ("inner", TR(RT(10, rate), RT(20, rate)), 102)
    ]
    assert shots[0].first_frame == 102 and shots[0].frame_count == 20


# --- time as the timeline says (adapters/timecode.py) ---------------------------------------

FIXTURE_DIR = FIXTURES[0].parent


def _ntsc_timeline(start: str, **meta) -> otio.schema.Timeline:
    rate = 30000 / 1001
    tl = otio.schema.Timeline(name="ntsc")
    tl.global_start_time = otio.opentime.from_timecode(start, rate)
    tl.metadata.update(meta)
    return tl


def test_29_97_non_drop_prints_colons_at_the_hour():
    plain = _ntsc_timeline("01:00:00:00")  # nothing says drop-frame: not guessed from the rate
    assert timecode(RT(0, 30000 / 1001), plain) == "01:00:00:00"
    fcp = _ntsc_timeline("01:00:00:00", fcp_xml={"timecode": {"displayformat": "NDF"}})
    assert timecode(RT(0, 30000 / 1001), fcp) == "01:00:00:00"


@pytest.mark.parametrize(
    "meta",
    [
        {"fcp_xml": {"timecode": {"displayformat": "DF"}}},
        {"cmx_3600": {"FCM": "DROP FRAME"}},
        {"AAF": {"Timecode": {"Drop": True}}},
        {"Resolve_OTIO": {"timelineFrameRate": "29.97 DF"}},
    ],
    ids=["fcp_xml", "edl", "aaf", "resolve"],
)
def test_29_97_drop_frame_as_the_timeline_records_it(meta):
    tl = _ntsc_timeline("01:00:00;00", **meta)
    assert timecode(RT(0, 30000 / 1001), tl) == "01:00:00;00"
    assert timecode(RT(1800, 30000 / 1001), tl) == "01:01:00;02"  # frames 0 and 1 dropped


def test_resolve_non_drop_setting_is_non_drop():
    tl = _ntsc_timeline("01:00:00:00", Resolve_OTIO={"timelineFrameRate": "29.97 NDF"})
    assert timecode(RT(0, 30000 / 1001), tl) == "01:00:00:00"


def test_record_timecode_is_at_the_timelines_rate_whatever_the_times_rate():
    tl = otio.schema.Timeline(name="24")
    tl.global_start_time = otio.opentime.from_timecode("01:00:00:00", 24)
    # 13.8 s, written at a 29.97 clip's rate: frame 331 of the 24 fps timeline.
    assert timecode(RT(13.8 * 30000 / 1001, 30000 / 1001), tl) == "01:00:13:19"


@pytest.mark.parametrize("rate", [10, 12, 15, 16, 72])
def test_rates_smpte_does_not_cover_print_frames_and_seconds(rate):
    tl = otio.schema.Timeline(name="odd")
    tl.global_start_time = RT(0, rate)
    assert timecode(RT(3 * rate + 2, rate), tl) == f"{3 * rate + 2}fr_{3 + 2 / rate:.3f}s"


def test_edl_reel_starts_at_its_first_record_in():
    tl = read_timeline(FIXTURE_DIR / "avid_example.edl", rate=24)
    assert timecode(RT(0, 24), tl) == "00:59:53:11"  # OTIO's reader left it at 00:00:00:00
    tl = read_timeline(FIXTURE_DIR / "gap_test.edl", rate=24)
    assert timecode(RT(0, 24), tl) == "00:00:00:00"
    assert tl.metadata["cmx_3600"]["FCM"] == "NON-DROP FRAME"


def test_edl_drop_frame_line_is_honoured(tmp_path):
    edl = tmp_path / "df.edl"
    edl.write_text(
        "TITLE: df\nFCM: DROP FRAME\n"
        "001  AX       V     C        00:00:00;00 00:00:02;00 01:00:00;00 01:00:02;00\n"
        "* FROM CLIP NAME: a.mov\n"
    )
    tl = read_timeline(edl, rate="29.97")
    assert timecode(RT(0, 30000 / 1001), tl) == "01:00:00;00"


def test_aaf_drop_frame_timecode_is_read_from_the_file():
    tl = read_timeline(FIXTURE_DIR / "2997fps-DFTC.aaf")
    assert timecode(RT(0, tl.global_start_time.rate), tl) == "05:00:00;00"
    simple = read_timeline(FIXTURE_DIR / "simple.aaf")
    assert timecode(RT(0, 24), simple) == "01:00:00:00"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [("rate", 0, "rate 0"), ("rate", float("nan"), "rate nan"), ("rate", -25, "rate -25"),
     ("value", -50, "negative value"), ("value", 1e18, "value 1e+18")],
)  # fmt: skip
def test_odd_numbers_in_a_timeline_are_a_clear_error(tmp_path, field, value, says):
    import json

    timeline = otio.schema.Timeline(name="odd")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Clip(name="c", source_range=TR(RT(0, 25), RT(50, 25))))
    timeline.tracks.append(track)
    data = json.loads(otio.adapters.write_to_string(timeline, "otio_json"))
    data["tracks"]["children"][0]["children"][0]["source_range"]["duration"][field] = value
    path = tmp_path / "odd.otio"
    path.write_text(json.dumps(data))
    with pytest.raises(
        TimelineReadError, match=re.escape(f"clip 'c': source range duration has {says}")
    ):
        read_timeline(path)


def test_fcp_xml_results_say_what_their_wavs_are(tmp_path):
    """Premiere imports the WAVs as made (48 kHz, 24-bit, stereo) instead of guessing."""
    from sonicvision.server.options import FoleyOptions
    from sonicvision.server.pipeline import foley
    from sonicvision.server.testing.cuts import cut_with_events

    cut, _ = cut_with_events(tmp_path, 25)
    result = foley(cut, tmp_path / "cut_foley.xml", FoleyOptions())
    back = otio.adapters.read_from_file(str(result.output), adapter_name="fcp_xml")
    audio = [c for t in back.audio_tracks() for c in t.find_clips()]
    assert audio
    for clip in audio:
        media = clip.media_reference.metadata["fcp_xml"]["media"]["audio"]
        assert media["samplecharacteristics"] == {"depth": "24", "samplerate": "48000"}
        assert media["channelcount"] == "2"
