"""Production sound as a timing guide: transients that are not speech or music, found to the
sample; their fusion with the picture's cues; the guide found on the timeline; the option on
every surface; real footage with room tone and speech."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf
from google.protobuf import json_format

from sonicvision.adapters.media import MediaResolver
from sonicvision.cli.passes import _options as cli_options
from sonicvision.errors import ConfigError
from sonicvision.events import Shot
from sonicvision.server.detect.base import Detection, EventInterval
from sonicvision.server.guide import Listening, event_fields, guide_detections, listen
from sonicvision.server.guide import find as find_module
from sonicvision.server.guide import listening as listening_module
from sonicvision.server.guide.audio import read_audio
from sonicvision.server.guide.find import GuideSource
from sonicvision.server.guide.fuse import AUDIO, BOTH, PICTURE, fuse
from sonicvision.server.guide.transients import (
    ANALYSIS_RATE,
    HOP,
    GuideAudio,
    Transient,
    find_transients,
    hpss,
)
from sonicvision.server.options import FoleyOptions
from sonicvision.server.pipeline import Analysis, analyze, find_events, scan_picture
from sonicvision.server.service.errors import InvalidRequest
from sonicvision.server.service.wire import options_from_message, options_message
from sonicvision.server.synthetic_scenes import ObjectSpec, SceneSpec, render_scene
from sonicvision.server.testing.production_sound import (
    hit,
    load_speech,
    music,
    mux_audio,
    place_at,
    room_tone,
)
from sonicvision.v1 import jobs_pb2 as pb

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
SR = 48_000
BLOCK = HOP * SR // ANALYSIS_RATE  # one audio block at 48 kHz
SPEECH = Path(__file__).parent / "fixtures" / "speech_espeak.flac"
MEDIA = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "media"


def found_samples(audio: np.ndarray) -> list[int]:
    return [t.sample for t in find_transients(audio, SR).transients]


# --- transients ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["wood", "metal", "step"])
def test_hits_in_room_tone_are_found_to_the_millisecond(kind):
    audio = room_tone(5.0, SR, -55.0, seed=1)
    truth = [int(0.9 * SR) + 37, int(2.2 * SR) + 11, int(3.7 * SR) + 400]
    for i, at in enumerate(truth):
        place_at(audio, hit(SR, 0.05 * (i + 1), kind, seed=i), at)
    found = found_samples(audio)
    assert len(found) == len(truth), found
    assert all(abs(f - t) <= SR // 1000 for f, t in zip(found, truth, strict=True)), (found, truth)


def test_room_tone_and_silence_give_no_transients():
    assert found_samples(room_tone(5.0, SR, -45.0, seed=2)) == []
    silent = find_transients(np.zeros(3 * SR, dtype=np.float32), SR)
    assert silent.silent and silent.transients == []
    # Sound that starts after digital silence (a stream that starts late) is no hit.
    late = np.concatenate([np.zeros(SR // 2, np.float32), room_tone(3.0, SR, -40.0)])
    assert found_samples(late) == []


def speech_over_room(seconds: float = 7.0) -> np.ndarray:
    audio = room_tone(seconds, SR, -55.0, seed=3)
    place_at(audio, load_speech(SPEECH, SR) * 0.3, int(0.3 * SR))
    return audio


@pytest.mark.parametrize("blocks", [5, 30, 31, 700])
def test_the_fast_hpss_gives_librosa_s_numbers(blocks):
    """The guide's own HPSS (sliding-window medians) against librosa's, value for value, on
    speech and a hit, from shorter than the kernel (scipy's mirroring) to several seconds."""
    import librosa

    audio = speech_over_room()[: blocks * HOP * SR // ANALYSIS_RATE]
    spec = np.abs(librosa.stft(audio, n_fft=1024, hop_length=HOP // 2, center=True))
    spec = spec[:, :blocks]
    spec[3, 2] = spec[3, 3] = 0.0  # zeros split evenly between the parts, as librosa does
    want_h, want_p = librosa.decompose.hpss(spec, kernel_size=31, margin=1.0)
    got_h, got_p = hpss(spec, 31)
    np.testing.assert_array_equal(got_h, want_h)
    np.testing.assert_array_equal(got_p, want_p)


def test_speech_makes_no_transients():
    assert found_samples(speech_over_room()) == []


def test_music_makes_no_transients():
    audio = music(8.0, SR, seed=4) + room_tone(8.0, SR, -55.0)
    guide = find_transients(audio, SR)
    assert guide.transients == []
    assert guide.music.mean() > 0.8  # it knows it heard music


def test_a_hit_under_speech_is_found_where_it_stands_out():
    audio = speech_over_room()
    truth = [int(2.1 * SR) + 5, int(4.43 * SR)]  # inside words, not in pauses
    for i, at in enumerate(truth):
        place_at(audio, hit(SR, 0.45, seed=5 + i), at)
    guide = find_transients(audio, SR)
    found = [t.sample for t in guide.transients]
    assert len(found) == 2 and all(
        abs(f - t) <= SR // 1000 for f, t in zip(found, truth, strict=True)
    ), found
    assert [t.context for t in guide.transients] == ["speech", "speech"]  # heard over it


def test_a_hit_over_music_is_found_and_the_beat_is_not():
    audio = music(8.0, SR, seed=4) + room_tone(8.0, SR, -55.0)
    truth = [int(3.1 * SR) + 5, int(5.61 * SR)]
    for i, at in enumerate(truth):
        place_at(audio, hit(SR, 0.4, "metal", seed=9 + i), at)
    found = found_samples(audio)
    assert len(found) == 2 and all(
        abs(f - t) <= SR // 1000 for f, t in zip(found, truth, strict=True)
    ), found


# --- fusion ----------------------------------------------------------------------------------


def shot(frames: int = 100, rate: float = 25.0) -> Shot:
    return Shot(
        index=0,
        clip_name="take",
        media_path=None,
        source_range=TR(RT(0, rate), RT(frames, rate)),
        record_range=TR(RT(50, rate), RT(frames, rate)),
        frame_count=frames,
        media_rate=rate,
    )


def guide(transients: list[tuple[float, bool]], frames: int = 100, tonal=None) -> list:
    """One guide source over the whole shot, with transients at (seconds, strong)."""
    blocks = int(frames / 25 / (HOP / ANALYSIS_RATE)) + 1
    audio = GuideAudio(
        [Transient(t, round(t * SR), 30.0, 5.0, 0.9, "", strong) for t, strong in transients],
        HOP / ANALYSIS_RATE,
        np.zeros(blocks, bool) if tonal is None else tonal,
        np.zeros(blocks, bool),
        False,
        {},
        SR,
    )
    return [(GuideSource(Path("x.wav"), 0, 0.0, 25.0, 0, frames, "own audio"), audio)]


def detection(*intervals: EventInterval, motion: float = 0.0, frames: int = 100) -> Detection:
    return Detection(
        np.zeros(frames, bool), list(intervals), np.full(frames, motion, dtype=np.float32)
    )


def impact(onset: int, strength: float = 0.4) -> EventInterval:
    return EventInterval(onset, onset + 5, False, strength, "impact")


def test_a_visual_cue_with_a_transient_near_is_confirmed_and_snapped_to_its_sample():
    at = 32.4 / 25  # 2.4 frames after the picture's contact frame 30
    fused, stats = fuse(shot(), detection(impact(30)), guide([(at, False)]))
    (iv,) = fused.intervals
    assert (iv.onset, iv.end, iv.placed_by, stats.confirmed) == (32, 37, BOTH, 1)
    assert iv.strength >= 0.9
    # Timeline time: the shot starts at record frame 50; the transient's own sample.
    assert iv.onset_time == RT(round(50 / 25 * SR) + round(at * SR), SR)
    assert event_fields(iv) == {"placed_by": BOTH, "onset": iv.onset_time}


def test_a_transient_too_far_from_the_cue_does_not_move_it():
    fused, stats = fuse(shot(), detection(impact(30)), guide([(34.5 / 25, False)]))
    assert [(iv.onset, iv.placed_by) for iv in fused.intervals] == [(30, PICTURE)]
    assert stats.confirmed == 0


def stop_at(frame: int, frames: int = 100) -> Detection:
    """The picture's evidence of something that moves and stops at ``frame`` (a contact)."""
    det = detection(motion=0.2, frames=frames)
    det.scores[frame - 12 : frame] = 3.0
    return det


def test_a_strong_transient_where_the_picture_moves_becomes_a_cue():
    fused, _ = fuse(shot(), stop_at(25), guide([(1.0, True), (2.0, False)]))
    assert [(iv.onset, iv.placed_by) for iv in fused.intervals] == [(25, AUDIO)]
    still, _ = fuse(shot(), detection(motion=0.1), guide([(1.0, True)]))
    assert still.intervals == []  # nothing moves on screen: off-screen sound, no cue


def test_a_sound_under_steady_motion_makes_no_cue():
    """A pan, a walk, a flutter: the picture moves, but nothing stops or is thrown when the
    sound comes (off-screen sound, the score): no cue. Nor where the contact is a second off."""
    for det in (detection(motion=3.0), stop_at(60)):
        fused, stats = fuse(shot(), det, guide([(1.0, True)]))
        assert fused.intervals == [] and stats.added == 0
    jitter = detection(motion=0.0)
    jitter.scores[:] = np.where(np.arange(100) % 2, 4.0, 1.0)  # busy all along, as at 25
    jitter.scores[20:30] = [1.0, 4.0, 1.0, 4.0, 1.0, 5.0, 2.0, 4.0, 1.0, 4.0]
    assert fuse(shot(), jitter, guide([(1.0, True)]))[0].intervals == []


def test_a_one_frame_pop_is_no_contact():
    """Text that appears, a flash: the picture changes on one frame with stillness around it,
    nothing moved there to hit anything."""
    pop = detection(motion=0.0)
    pop.scores[[18, 25, 31]] = 6.0
    assert fuse(shot(), pop, guide([(1.0, True)]))[0].intervals == []
    pop.scores[24] = 6.0  # two frames running: something moved in
    assert len(fuse(shot(), pop, guide([(1.0, True)]))[0].intervals) == 1


def test_under_music_a_cue_of_the_sound_needs_a_rise_far_above_it():
    (source, audio), *_ = guide([(1.0, True)])
    for rise, cues in ((28.0, 0), (36.0, 1)):
        heard = replace(
            audio, transients=[replace(audio.transients[0], context="music", rise_db=rise)]
        )
        fused, _ = fuse(shot(), stop_at(25), [(source, heard)])
        assert len(fused.intervals) == cues, rise
        alone, _ = fuse(shot(), None, [(source, heard)], mode="only")  # the sound alone, too
        assert len(alone.intervals) == cues, rise


def test_an_impact_clean_sound_did_not_hear_loses_confidence():
    slide = EventInterval(60, 80, True, 0.6, "slide")
    fused, stats = fuse(shot(), detection(impact(30, 0.4), slide), guide([]))
    assert [round(iv.strength, 3) for iv in fused.intervals] == [0.2, 0.6]
    assert stats.lowered == 1
    # Over speech or music a missing transient proves nothing: the cue stands.
    busy = np.ones(len(guide([])[0][1].tonal), bool)
    fused, _ = fuse(shot(), detection(impact(30, 0.4)), guide([], tonal=busy))
    assert fused.intervals[0].strength == pytest.approx(0.4)


def test_silent_or_absent_guide_leaves_the_picture_as_it_was():
    det = detection(impact(30))
    assert fuse(shot(), det, [])[0] is det
    source, audio = guide([(1.0, True)])[0]
    assert fuse(shot(), det, [(source, replace(audio, silent=True))])[0] is det


def test_only_mode_takes_the_cues_from_the_sound_alone():
    fused, stats = fuse(shot(), detection(impact(30)), guide([(2.0, False)]), mode="only")
    assert [(iv.onset, iv.placed_by) for iv in fused.intervals] == [(50, AUDIO)]
    assert stats.dropped == 1
    silent, _ = fuse(shot(), detection(impact(30)), [], mode="only")
    assert silent.intervals == []  # no sound, no cue


# --- end to end: picture with its own production sound -----------------------------------------


def two_falls(path: Path):
    """100 frames at 25 fps: two falls, contacts on frames 30 and 72."""
    spec = SceneSpec(
        256,
        144,
        25,
        100,
        objects=[ObjectSpec("fall", 10, 30, x=0.3), ObjectSpec("fall", 52, 72, x=0.7)],
    )
    return render_scene(spec, path)


def take_with_sound(folder: Path, offset_frames: int, codec: str, suffix: str):
    """Two falls (contact frames known), the take's own sound: room tone, a hit at each contact
    ``offset_frames`` late (sync off by that much), speech between them."""
    truth = two_falls(folder / "picture.mp4")
    audio = room_tone(4.0, SR, -60.0, seed=7)
    place_at(audio, load_speech(SPEECH, SR)[: int(0.9 * SR)] * 0.25, int(1.5 * SR))
    hits = []
    for i, ev in enumerate(truth.impacts):
        at = round((ev.onset_frame + offset_frames) / 25 * SR) + 17
        place_at(audio, hit(SR, 0.3, seed=i), at)
        hits.append(at)
    media = mux_audio(folder / "picture.mp4", audio, SR, folder / f"take{suffix}", codec)
    tl = otio.schema.Timeline(name="guided")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(
        otio.schema.Clip(
            name="take",
            media_reference=otio.schema.ExternalReference(target_url=media.name),
            source_range=TR(RT(0, 25), RT(100, 25)),
        )
    )
    tl.tracks.append(track)
    path = folder / "cut.otio"
    otio.adapters.write_to_file(tl, str(path))
    return path, tl, truth, hits


@pytest.mark.parametrize(
    "offset, codec, suffix", [(0, "pcm_s16le", ".mov"), (2, "aac", ".mp4")], ids=["sync", "2f-aac"]
)
def test_cues_land_on_the_production_sound_transient(tmp_path, offset, codec, suffix):
    path, tl, truth, hits = take_with_sound(tmp_path, offset, codec, suffix)
    resolver = MediaResolver(path, [], [])
    off = find_events(tl, resolver, FoleyOptions(guide_audio="off"))
    on = find_events(tl, resolver, FoleyOptions())
    assert [e.start.value for e in off.events] == [ev.onset_frame for ev in truth.impacts]
    assert [e.placed_by for e in off.events] == [PICTURE, PICTURE]
    assert [e.placed_by for e in on.events] == [BOTH, BOTH]  # speech made no cue
    for event, sample in zip(on.events, hits, strict=True):
        assert abs(event.attack.to_seconds() * SR - sample) <= BLOCK
        assert event.start.value == int(event.attack.to_seconds() * 25)  # the frame it is in
        assert event.confidence >= 0.9
    assert any("clip 'take' (own audio" in n and "2 cues confirmed" in n for n in on.notes)


def test_cue_markers_say_what_placed_them_and_render_keeps_the_sample(tmp_path):
    path, _, _, hits = take_with_sound(tmp_path, 1, "pcm_s16le", ".mov")
    out = analyze(path, tmp_path / "cues.otio", FoleyOptions())
    markers = otio.adapters.read_from_file(str(out.output)).tracks.markers
    assert [m.metadata["sonicvision"]["cue"]["placed_by"] for m in markers] == [BOTH, BOTH]
    assert all(m.comment.endswith("(placed by picture+audio)") for m in markers)
    back = FoleyOptions(guide_audio="off")
    from sonicvision.server.pipeline import render

    rendered = render(out.output, tmp_path / "final.otio", back)
    for clip, sample in zip(rendered.clips, hits, strict=True):
        attack = clip.record_range.start_time.to_seconds() + clip.metadata["onset_in_file_s"]
        assert abs(attack * SR - sample) <= BLOCK
        assert clip.event.placed_by == BOTH


# --- the guide on the timeline's audio tracks ----------------------------------------------------


def test_recorder_audio_on_a1_guides_only_the_frames_it_plays_under(tmp_path, monkeypatch):
    """Picture without sound; a WAV from the recorder (started 1 s before the camera) on A1,
    named like the clip, used from 1 s for 50 frames: only the first fall is under it. The
    timeline's audio clips are resolved once in the run (the scan and the guide share them)."""
    resolved = []

    def audio_clips(timeline, resolver):
        resolved.append(timeline.name)
        return read_audio_clips(timeline, resolver)

    read_audio_clips = find_module._audio_clips
    monkeypatch.setattr(find_module, "_audio_clips", audio_clips)
    truth = two_falls(tmp_path / "A001C002.mp4")
    wav = room_tone(6.0, SR, -60.0, seed=8)
    lead = 1.0
    first, second = (ev.onset_frame for ev in truth.impacts)
    on_first = round((first / 25 + lead) * SR) + 5
    for i, at in enumerate([int(0.5 * SR), on_first, round((second / 25 + lead) * SR)]):
        place_at(wav, hit(SR, 0.3, seed=i), at)  # 0.5 s: before the used range
    sf.write(tmp_path / "A001C002.wav", wav, SR, subtype="PCM_24")
    tl = otio.schema.Timeline(name="synced")
    video = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    video.append(
        otio.schema.Clip(
            name="A001C002",
            media_reference=otio.schema.ExternalReference(target_url="A001C002.mp4"),
            source_range=TR(RT(0, 25), RT(100, 25)),
        )
    )
    audio = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    audio.append(
        otio.schema.Clip(
            name="A001C002",
            media_reference=otio.schema.ExternalReference(target_url="A001C002.wav"),
            source_range=TR(RT(25, 25), RT(50, 25)),
        )
    )
    tl.tracks.extend([video, audio])
    resolver = MediaResolver(tmp_path / "cut.otio", [], [])
    found = find_events(tl, resolver, FoleyOptions())
    assert [(e.start.value, e.placed_by) for e in found.events] == [
        (first, BOTH),
        (second, PICTURE),
    ]
    assert abs(found.events[0].attack.to_seconds() * SR - (on_first - lead * SR)) <= BLOCK
    assert any("A1 'A001C002' (same clip name)" in n and "1/1 shots" in n for n in found.notes)
    assert resolved == ["synced"]


def test_a_clip_without_sound_says_so_and_keeps_its_cues(tmp_path):
    render_scene(
        SceneSpec(256, 144, 25, 60, objects=[ObjectSpec("fall", 10, 30)]), tmp_path / "p.mp4"
    )
    tl = otio.schema.Timeline()
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(
        otio.schema.Clip(
            name="p",
            media_reference=otio.schema.ExternalReference(target_url="p.mp4"),
            source_range=TR(RT(0, 25), RT(60, 25)),
        )
    )
    tl.tracks.append(track)
    found = find_events(tl, MediaResolver(tmp_path / "c.otio", [], []), FoleyOptions())
    assert [(e.start.value, e.placed_by) for e in found.events] == [(30, PICTURE)]
    assert "guide audio: clip 'p' has none: cues from the picture alone" in found.notes


# --- the option on every surface ------------------------------------------------------------


def test_guide_audio_option_everywhere():
    with pytest.raises(ConfigError, match="guide audio mode 'loud'"):
        FoleyOptions(guide_audio="loud")
    for mode in ("auto", "off", "only"):
        options, _ = options_from_message(options_message(FoleyOptions(guide_audio=mode)))
        assert options.guide_audio == mode
        assert FoleyOptions.from_dict(FoleyOptions(guide_audio=mode).to_dict()).guide_audio == mode
    message = options_message(FoleyOptions())
    message.ClearField("guide_audio")
    assert options_from_message(message)[0].guide_audio == "auto"
    message.guide_audio = 99
    with pytest.raises(InvalidRequest, match="GuideAudio"):
        options_from_message(message)
    # The HTTP face reads the same message as JSON.
    as_json = json_format.ParseDict({"guide_audio": "GUIDE_AUDIO_ONLY"}, pb.FoleyOptions())
    assert options_from_message(as_json)[0].guide_audio == "only"
    from sonicvision.cli import build_parser

    command = ["analyze", "cut.otio", "-o", "x.otio"]
    args = build_parser().parse_args([*command, "--guide-audio", "only"])
    assert cli_options(args).guide_audio == "only"
    assert cli_options(build_parser().parse_args(command)).guide_audio == "auto"


# --- real footage -------------------------------------------------------------------------------


def test_phone_room_tone_adds_no_cue(tmp_path):
    """phone_dog_vfr.mp4: a dog lying on a tiled floor, room tone, variable frame rate."""
    audio, rate = read_audio(MEDIA / "phone_dog_vfr.mp4", 0.0, 1.6)
    heard = find_transients(audio, rate)
    assert not heard.silent and not any(t.strong for t in heard.transients)
    _guide_adds_nothing("phone_dog_vfr.mp4", "dog", 45, tmp_path)


def _guide_adds_nothing(name: str, clip: str, frames: int, tmp_path) -> Analysis:
    """The first ``frames`` (at 30 fps) of a shared file as one clip: the guide adds no cue
    of its own and changes no count, and the report says the clip had its own audio."""
    tl = otio.schema.Timeline()
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    reference = otio.schema.ExternalReference(target_url=str(MEDIA / name))
    track.append(
        otio.schema.Clip(
            name=clip, media_reference=reference, source_range=TR(RT(0, 30), RT(frames, 30))
        )
    )
    tl.tracks.append(track)
    resolver = MediaResolver(tmp_path / "c.otio", [], [])
    off = find_events(tl, resolver, FoleyOptions(guide_audio="off"))
    on = find_events(tl, resolver, FoleyOptions())
    assert not any(e.placed_by == AUDIO for e in on.events)
    assert len(on.events) == len(off.events)
    assert any(f"clip '{clip}' (own audio" in n for n in on.notes), on.notes
    return on


def test_screencast_with_speech_the_guide_adds_no_cue(tmp_path):
    """movie-hello.mp4, all 8.2 s: a screencast with a webcam inset, the speaker saying hello,
    then typing ``ls`` in a terminal: the keystrokes are heard, the keyboard is off screen
    (what shows is text appearing, one frame at a time): no cue of the sound's own."""
    on = _guide_adds_nothing("movie-hello.mp4", "hello", 245, tmp_path)
    json.dumps(on.notes)


def test_a_long_take_is_heard_in_pieces_with_the_same_result(tmp_path):
    audio = room_tone(12.0, SR, -60.0, seed=11)
    truth = [int(1.3 * SR), int(4.85 * SR) + 3, int(4.95 * SR) + 70, int(10.5 * SR)]
    for i, at in enumerate(truth):
        place_at(audio, hit(SR, 0.2, seed=i), at)
    place_at(audio, load_speech(SPEECH, SR)[: 3 * SR] * 0.15, int(6.0 * SR))
    sf.write(tmp_path / "take.wav", audio, SR, subtype="PCM_24")
    # From 0.9 s: pieces end at 4.9 and 8.9 s, between the two hits at 4.85 and 4.95 s.
    source = GuideSource(tmp_path / "take.wav", 0, 0.5, 25.0, 10, 275, "A1")
    whole, pieces = listen(source, chunk_s=60.0), listen(source, chunk_s=4.0)
    expected = [t - int(0.9 * SR) for t in truth]
    assert [t.sample for t in whole.transients] == pytest.approx(expected, abs=SR // 1000)
    assert [t.sample for t in pieces.transients] == [t.sample for t in whole.transients]
    n = min(len(pieces.tonal), len(whole.tonal))
    assert whole.tonal[:n].any() and np.mean(pieces.tonal[:n] == whole.tonal[:n]) > 0.97


BBB = MEDIA / "bbb_first_300s.mp4"
BBB_LABELS = (
    Path(__file__).resolve().parents[1] / "bench" / "labels" / "bbb_first_300s.contacts.json"
)


def bbb_timeline(first: int, frames: int) -> otio.schema.Timeline:
    """One clip of Big Buck Bunny (picture and its own sound), ``frames`` from ``first``."""
    tl = otio.schema.Timeline()
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(
        otio.schema.Clip(
            name="bbb",
            media_reference=otio.schema.ExternalReference(target_url=str(BBB)),
            source_range=TR(RT(first, 24), RT(frames, 24)),
        )
    )
    tl.tracks.append(track)
    return tl


def test_each_shot_s_sound_is_heard_during_the_scan_with_the_same_result(tmp_path, monkeypatch):
    """Big Buck Bunny 3840-3940 (cuts at 3860, 3895, 3919): as the scan finds each shot, its
    sound is heard in the listening thread, so the guide after the scan hears nothing itself,
    and what it does with the cues is what it does hearing each shot after the scan."""
    tl, options = bbb_timeline(3840, 100), FoleyOptions()
    resolver = MediaResolver(tmp_path / "c.otio", [], [])
    heard_in: list[str] = []
    real = listening_module.listen

    def counting(source: GuideSource, chunk_s: float = 60.0):
        heard_in.append(threading.current_thread().name)
        return real(source, chunk_s)

    monkeypatch.setattr(listening_module, "listen", counting)
    with Listening() as listening:
        shots, detections = scan_picture(tl, resolver, options, listening=listening)
        ahead = guide_detections(tl, shots.shots, detections, resolver, "auto", listening)
    assert len(shots.shots) == 4
    assert len(heard_in) == 4 and all(n.startswith("guide-listen") for n in heard_in), heard_in
    after = guide_detections(tl, shots.shots, detections, resolver, "auto")
    assert heard_in[4:] == ["MainThread"] * 4  # heard by the guide itself, after the scan
    assert ahead.notes == after.notes
    for index, detection in after.detections.items():
        got = ahead.detections[index]
        assert [(iv.onset, iv.strength, event_fields(iv)) for iv in got.intervals] == [
            (iv.onset, iv.strength, event_fields(iv)) for iv in detection.intervals
        ]


def bbb_piece(tmp_path: Path, first: int, frames: int, mode: str) -> list:
    """The guide's cues on a piece of Big Buck Bunny (its own soundtrack: Foley and score),
    as record frames of the film."""
    tl = bbb_timeline(first, frames)
    found = find_events(
        tl, MediaResolver(tmp_path / "c.otio", [], []), FoleyOptions(guide_audio=mode)
    )
    return [(e.start.value + first, e.placed_by) for e in found.events if not e.continuous]


def on_labels(frame: float, classes: tuple[str, ...]) -> list[int]:
    """Labels of ``classes`` a cue at ``frame`` falls on: from two frames before the first
    visible frame to the soundtrack's onset (three frames later) and two more."""
    events = json.loads(BBB_LABELS.read_text())["events"]
    return [e["frame"] for e in events if e["class"] in classes and -2 <= frame - e["frame"] <= 5]


@pytest.mark.parametrize(
    "first, frames, what",
    [
        (1560, 135, "the score's accent as Bunny's body passes the camera"),
        (2500, 110, "the score under a butterfly's flutter (silent motion)"),
        (3590, 290, "three contacts, then the rodents laughing under the score"),
    ],
)
def test_bbb_the_score_makes_no_cue_and_the_contacts_are_found(tmp_path, first, frames, what):
    """Big Buck Bunny with its soundtrack: every cue the sound adds lies on a visible contact
    or action, none on the score, off-screen sound or a flutter; the hits in the soundtrack
    that are the film's Foley for a visible contact do become cues."""
    cues = bbb_piece(tmp_path, first, frames, "auto")
    made = [f for f, by in cues if by != PICTURE]
    visible = ("VISIBLE_CONTACT", "VISIBLE_ACTION")
    assert all(on_labels(f, visible) for f in made), (what, cues)
    assert not any(on_labels(f, ("OFFSCREEN_OR_MUSIC", "SILENT_MOTION")) for f in made), what
    contacts = json.loads(BBB_LABELS.read_text())["events"]
    inside = [
        e["frame"]
        for e in contacts
        if e["class"] == "VISIBLE_CONTACT" and first <= e["frame"] < first + frames
    ]
    heard = [c for c in inside if any(-2 <= f - c <= 5 for f in made)]
    assert len(heard) >= 0.6 * len(inside), (inside, cues)
