"""Real media in: footage nobody here made, and our own encodes of it, read at their true frames.

Every file in ../shared/fixtures/media goes through ``shots`` and ``analyze`` (a short used
range of the long one); each odd property (B-frames, a container rate that is off, zero-size
packets, an overstated header, a cut-off tail, variable rate, rotation, non-square pixels,
interlacing, pulldown, frame doubling) has its own check; encodes made here with PyAV in the
codecs and containers editors hand over must read frame-exact, and a B-frame encode must give
the same cuts and events as the same pictures encoded without B-frames.
"""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import opentimelineio as otio
import pytest

from sonicvision.adapters.io import read_timeline
from sonicvision.adapters.media import MediaResolver
from sonicvision.cli import main
from sonicvision.server.detect.motion import MotionDetector
from sonicvision.server.frames import ANALYSIS_WIDTH, MediaInfo, iter_frames, probe, read_frames
from sonicvision.server.frames.info import Matte
from sonicvision.server.options import FoleyOptions
from sonicvision.server.pipeline import find_events
from sonicvision.server.synthetic_scenes import ObjectSpec, SceneSpec, read_frame_code, render_scene

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "media"
NTSC_24, NTSC_30, NTSC_60 = Fraction(24000, 1001), Fraction(30000, 1001), Fraction(60000, 1001)
# (file, first frame used, frames used): the long file is analysed over 10 s of its middle.
FIXTURES = [
    ("bbb_first_300s.mp4", 2400, 240),
    ("bikes.mp4", 0, None),
    ("carphone_pristine.mp4", 0, None),
    ("movie-hello.avi", 0, None),
    ("movie-hello.mp4", 0, None),
    ("movie-hello.mpeg", 0, None),
    ("movie-hello.ogg", 0, None),
    ("phone_dog_vfr.mp4", 0, None),
    ("tree.avi", 0, None),
    ("vtest.avi", 0, 200),
]


def one_clip_timeline(folder: Path, media: Path, first: int = 0, count: int | None = None) -> Path:
    """A cut holding ``media`` frames ``first .. first + count - 1`` at the file's own rate,
    starting at 01:00:00:00 where SMPTE timecode has the rate."""
    info = probe(media)
    rate = float(info.rate_exact)
    count = info.frame_count - first if count is None else count
    tl = otio.schema.Timeline(name=media.stem)
    try:
        tl.global_start_time = otio.opentime.from_timecode("01:00:00:00", rate)
    except ValueError:
        tl.global_start_time = RT(0, rate)
    ref = otio.schema.ExternalReference(
        target_url=media.resolve().as_uri(),
        available_range=TR(RT(0, rate), RT(info.frame_count, rate)),
    )
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    track.append(
        otio.schema.Clip(
            name=media.stem, media_reference=ref, source_range=TR(RT(first, rate), RT(count, rate))
        )
    )
    tl.tracks.append(track)
    path = folder / f"{media.stem}_{media.suffix[1:]}.otio"
    otio.adapters.write_to_file(tl, str(path))
    return path


def run_json(capsys, *argv: str) -> dict:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


@pytest.mark.parametrize(("name", "first", "count"), FIXTURES, ids=[f[0] for f in FIXTURES])
def test_every_fixture_is_read_by_shots_and_analyze(name, first, count, tmp_path, capsys):
    cut = one_clip_timeline(tmp_path, MEDIA / name, first, count)
    shots = run_json(capsys, "shots", str(cut))
    assert shots["shots"] and not shots["skipped"]
    frames = sum(s["frames"] for s in shots["shots"])
    info = probe(MEDIA / name)
    assert frames == (count or info.frame_count - first)
    analysed = run_json(capsys, "analyze", str(cut), "-o", str(tmp_path / "cues.otio"))
    assert analysed["shots"] == len(shots["shots"])
    assert (tmp_path / "cues.otio").is_file()


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("phone_dog_vfr.mp4", "variable frame rate"),
        ("tree.avi", "dropped frames"),
        ("movie-hello.ogg", "empty packets"),
        ("movie-hello.avi", "header says 209 frames, the stream holds 208"),
        ("carphone_pristine.mp4", "non-square pixels (128:117)"),
        ("movie-hello.mp4", "pillarboxed (picture 1150x720 of 1280x720)"),
    ],
)
def test_what_was_odd_is_said_in_the_shots_notes(name, said, tmp_path, capsys):
    shots = run_json(capsys, "shots", str(one_clip_timeline(tmp_path, MEDIA / name)))
    assert any(said in n and name in n for n in shots["notes"]), shots["notes"]


@pytest.mark.parametrize("name", [f[0] for f in FIXTURES])
def test_every_fixture_reads_to_its_last_frame(name):
    # The old reader failed here on five files: a container rate of 30.12 ("Frame 125 is
    # missing"), zero-size Ogg packets, a header one frame long, a tail cut off mid mini-GOP,
    # and variable rates.
    info = probe(MEDIA / name)
    start = max(0, info.frame_count - 12)
    frames = read_frames(MEDIA / name, start, info.frame_count - start, width=64, info=info)
    assert len(frames) == info.frame_count - start


def test_container_average_rate_is_not_used():
    info = probe(MEDIA / "movie-hello.mp4")  # average 30.12, every step 1/30 s
    assert info.rate_exact == 30 and info.frame_count == 249


def test_overstated_header_and_cut_off_tail_count_what_the_stream_holds():
    assert probe(MEDIA / "movie-hello.avi").frame_count == 208  # the header says 209
    bbb = probe(MEDIA / "bbb_first_300s.mp4")
    assert bbb.frame_count == 7201 and bbb.rate_exact == 24


def test_variable_rate_phone_clip_holds_each_picture_until_the_next():
    # phone_dog_vfr.mp4: its second picture comes 0.185 s after the first (5.5 frames at 30).
    frames = read_frames(MEDIA / "phone_dog_vfr.mp4", 0, 8, width=64)
    same = [np.array_equal(frames[0], frames[i]) for i in range(1, 8)]
    assert same == [True] * 5 + [False, False]


def test_non_square_pixels_give_the_picture_a_player_shows():
    info = probe(MEDIA / "carphone_pristine.mp4")  # 176x144, SAR 128/117
    assert info.display_size == (193, 144)
    assert read_frames(MEDIA / "carphone_pristine.mp4", 0, 1).shape == (1, 144, 192, 3)


# --- our own encodes ------------------------------------------------------------------------


def stamped_source(folder: Path, rate: Fraction, frames: int, **spec) -> list[np.ndarray]:
    """Pictures with their index drawn in (and a falling block unless told otherwise)."""
    scene = SceneSpec(
        width=256,
        height=144,
        rate=rate,
        frames=frames,
        stamp_index=True,
        **spec,
    )
    truth = render_scene(scene, folder / f"src_{float(rate):.3f}_{frames}.mp4")
    return list(read_frames(truth.path, 0, frames, width=None))


def encode(
    path: Path,
    pictures: list[np.ndarray],
    rate: Fraction,
    codec: str = "libx264",
    *,
    pix_fmt: str = "yuv420p",
    repeats: list[int] | None = None,
    options: dict[str, str] | None = None,
    rotation: int = 0,
) -> Path:
    """Encode ``pictures`` with PyAV; ``repeats``: how many times each is shown (cycled)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        h, w = pictures[0].shape[:2]
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.options = options or {}
        if rotation:
            stream.set_display_rotation(rotation)
        for i, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
            for _ in range(repeats[i % len(repeats)] if repeats else 1):
                for packet in stream.encode(frame.reformat(format=pix_fmt)):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


ENCODES = [
    ("x264-bframes.mp4", "libx264", NTSC_24, {}),
    ("x264-bframes.mov", "libx264", Fraction(24), {}),
    ("x264-bframes.mkv", "libx264", Fraction(25), {}),
    ("x264-bframes-2997.mp4", "libx264", NTSC_30, {}),
    ("x264-bframes-50.mp4", "libx264", Fraction(50), {}),
    ("x264-bframes-5994.mov", "libx264", NTSC_60, {}),
    ("x265.mp4", "libx265", Fraction(25), {"x265-params": "log-level=none"}),
    ("prores.mov", "prores_ks", NTSC_24, {}),
    ("dnxhr.mov", "dnxhd", Fraction(24), {"profile": "dnxhr_lb"}),
    ("dnxhr.mxf", "dnxhd", Fraction(25), {"profile": "dnxhr_lb"}),
    ("mpeg2.mpg", "mpeg2video", NTSC_30, {"bf": "2", "g": "12"}),
    ("mpeg2.ts", "mpeg2video", Fraction(25), {"bf": "2", "g": "12"}),
    ("vp9.webm", "libvpx-vp9", Fraction(25), {"deadline": "realtime", "cpu-used": "8"}),
]
PIX_FMT = {"prores_ks": "yuv422p10le", "dnxhd": "yuv422p"}


@pytest.mark.parametrize(("name", "codec", "rate", "options"), ENCODES, ids=[e[0] for e in ENCODES])
def test_own_encodes_read_frame_exact(name, codec, rate, options, tmp_path):
    pictures = stamped_source(tmp_path, rate, 48, objects=[])
    path = encode(
        tmp_path / name,
        pictures,
        rate,
        codec,
        pix_fmt=PIX_FMT.get(codec, "yuv420p"),
        options=options,
    )
    info = probe(path)
    assert not info.is_vfr and info.cadence is None
    assert info.rate_exact == rate and info.frame_count == 48
    for start in (0, 13, 40):
        frames = read_frames(path, start, 8, width=None, info=info)
        assert [read_frame_code(f) for f in frames] == list(range(start, start + 8))


def test_b_frame_encode_gives_the_same_cuts_and_events_as_without(tmp_path):
    rate = Fraction(25)
    pictures = stamped_source(
        tmp_path,
        rate,
        50,
        objects=[ObjectSpec("fall", 4, 16, x=0.3), ObjectSpec("hit", 30, 42, x=0.6)],
        cut_at=[25],
    )
    plain = encode(tmp_path / "bf0.mp4", pictures, rate, options={"bf": "0", "crf": "16"})
    bframes = encode(tmp_path / "bf3.mp4", pictures, rate, options={"crf": "16"})
    with av.open(str(bframes)) as c:
        assert c.streams.video[0].codec_context.has_b_frames
    cuts_a, events_a = cuts_and_impacts(tmp_path, plain)
    cuts_b, events_b = cuts_and_impacts(tmp_path, bframes)
    assert cuts_a == cuts_b == [25]
    assert events_a, "the plain encode shows impacts"
    assert len(events_a) == len(events_b)
    assert all(abs(a - b) <= 1 for a, b in zip(events_a, events_b, strict=True))


def cuts_and_impacts(folder: Path, media: Path) -> tuple[list[int], list[float]]:
    """Shot starts and impact onsets, in frames of the media's source (24p-equivalent)."""
    cut = one_clip_timeline(folder, media)
    timeline = read_timeline(cut)
    found = find_events(timeline, MediaResolver(cut), FoleyOptions())
    rate = probe(media).rate_exact
    start = timeline.global_start_time.to_seconds() * 0  # record times count from the cut
    cuts = [round(s.record_range.start_time.to_seconds() * rate) for s in found.shots[1:]]
    impacts = [
        float((e.start.to_seconds() - start) * float(rate))
        for e in found.events
        if e.onscreen and not e.continuous
    ]
    return cuts, impacts


@pytest.mark.parametrize(
    ("label", "file_rate", "repeats", "source_rate"),
    [
        ("2:3 repeats at 59.94", NTSC_60, [2, 3], NTSC_24),
        ("frame doubling at 48", Fraction(48), [2], Fraction(24)),
    ],
)
def test_repeated_pictures_are_read_at_their_own_cadence(
    label, file_rate, repeats, source_rate, tmp_path
):
    pictures = stamped_source(tmp_path, source_rate, 48, objects=[ObjectSpec("pass", 1, 47)])
    path = encode(tmp_path / "cadence.mp4", pictures, file_rate, repeats=repeats)
    info = probe(path)
    assert info.cadence is not None and info.rate_exact == source_rate, label
    assert any("pictures in every" in n for n in info.notes)
    frames = read_frames(path, 0, info.frame_count, width=None, info=info)
    assert [read_frame_code(f) for f in frames] == list(range(48))


def test_2_3_pulldown_at_29_97_is_read_as_23_976(tmp_path):
    # A B C D D: one repeat in five, the way 24p reaches 29.97 without fields.
    pictures = stamped_source(tmp_path, NTSC_24, 48, objects=[ObjectSpec("pass", 1, 47)])
    path = encode(tmp_path / "pulldown.mp4", pictures, NTSC_30, repeats=[1, 1, 1, 2])
    info = probe(path)
    assert info.rate_exact == NTSC_24 and info.cadence.name == "2:3 pulldown"
    frames = read_frames(path, 0, info.frame_count, width=None, info=info)
    assert [read_frame_code(f) for f in frames] == list(range(48))


@pytest.mark.parametrize(
    ("file_rate", "repeats", "source_rate"),
    [(NTSC_60, [2, 3], NTSC_24), (Fraction(48), [2], Fraction(24))],
    ids=["2:3 at 59.94", "doubled 48"],
)
def test_repeated_pictures_give_the_events_of_the_source(file_rate, repeats, source_rate, tmp_path):
    # Old reader: 2:3-repeated 59.94 gave no events, frame-doubled 48p lost its impact.
    objects = [ObjectSpec("fall", 4, 16, x=0.3), ObjectSpec("hit", 26, 38, x=0.6)]
    pictures = stamped_source(tmp_path, source_rate, 48, objects=objects)
    source = encode(tmp_path / "source.mp4", pictures, source_rate, options={"bf": "0"})
    repeated = encode(tmp_path / "repeated.mp4", pictures, file_rate, repeats=repeats)
    _, want = cuts_and_impacts(tmp_path, source)
    _, got = cuts_and_impacts(tmp_path, repeated)
    assert want, "the source shows impacts"
    assert len(got) == len(want) and all(abs(a - b) <= 1 for a, b in zip(got, want, strict=True))


def test_rotation_is_honoured(tmp_path):
    pictures = stamped_source(tmp_path, Fraction(25), 6, objects=[])
    path = encode(tmp_path / "phone.mp4", pictures, Fraction(25), rotation=90)
    info = probe(path)
    assert info.rotation == 90 and info.display_size == (144, 256)
    frames = read_frames(path, 0, 3, width=None, info=info)
    assert frames.shape == (3, 256, 144, 3)
    upright = np.rot90(frames[2], -1)  # turned back, the stamp reads again
    assert read_frame_code(upright) == 2


def test_interlaced_video_is_read_one_field_a_frame(tmp_path):
    pictures = stamped_source(tmp_path, Fraction(25), 12, objects=[])
    path = encode(
        tmp_path / "interlaced.ts",
        pictures,
        Fraction(25),
        "mpeg2video",
        options={"flags": "+ilme+ildct", "top": "1"},
    )
    info = probe(path)
    assert info.interlaced and any("interlaced" in n for n in info.notes)
    frames = read_frames(path, 4, 4, info=info)
    assert frames.shape == (4, 144, 256, 3)
    assert [read_frame_code(f) for f in frames] == [4, 5, 6, 7]


def test_non_monotonic_timestamps_are_taken_in_decoding_order(tmp_path):
    # A DivX-style file whose stamps go back once; the old reader stopped at frame 3.
    pictures = stamped_source(tmp_path, Fraction(25), 12, objects=[])
    intra = encode(tmp_path / "intra.mkv", pictures, Fraction(25), "mpeg4", options={"g": "1"})
    order = [0, 1, 2, 4, 3, 5, 6, 7, 8, 9, 10, 11]
    path = tmp_path / "backwards.mkv"
    with av.open(str(intra)) as inp, av.open(str(path), "w") as out:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        ost.time_base = Fraction(1, 25)
        for i, packet in enumerate(p for p in inp.demux(ist) if p.size):
            packet.stream, packet.time_base = ost, Fraction(1, 25)
            packet.dts, packet.pts = i - 1, order[i]
            out.mux(packet)
    frames = read_frames(path, 0, 12, width=None)
    codes = [read_frame_code(f) for f in frames]
    assert codes[:3] == [0, 1, 2] and codes[5:] == list(range(5, 12))


@pytest.mark.parametrize(("name", "count"), [("vtest.avi", 120), ("tree.avi", 150)])
def test_10_and_15_fps_timelines_run_to_the_end(name, count, tmp_path, capsys):
    cut = one_clip_timeline(tmp_path, MEDIA / name, 0, count)
    shots = run_json(capsys, "shots", str(cut))
    assert shots["shots"][0]["record_in"].startswith("0fr_0.000s")  # frames + seconds
    run_json(capsys, "analyze", str(cut), "-o", str(tmp_path / "cues.otio"))
    done = run_json(capsys, "foley", str(cut), "-o", str(tmp_path / "foley.otio"))
    assert (tmp_path / "foley.otio").is_file() and done["shots"] == len(shots["shots"])


def test_one_analysis_width_for_shots_analyze_and_foley():
    assert FoleyOptions().analysis_width == ANALYSIS_WIDTH == 256


# --- black bars ------------------------------------------------------------------------------


def test_the_picture_is_read_inside_the_bars_of_a_real_pillarboxed_file():
    info = probe(MEDIA / "movie-hello.mp4")  # a screen capture pillarboxed in 1280x720
    assert info.matte is not None
    m = info.matte
    # Every column outside the matte is black in every frame; the columns at its edges are not.
    brightest = np.zeros(1280, np.uint8)
    for frame in iter_frames(MEDIA / "movie-hello.mp4", width=None, info=replace(info, matte=None)):
        brightest = np.maximum(brightest, frame.max(axis=(0, 2)))
    lit = (brightest > 40).nonzero()[0]
    assert (m.y, m.height) == (0, 720)
    assert lit[0] - 1 <= m.x <= lit[0] + 1 and lit[-1] - 2 <= m.x + m.width - 1 <= lit[-1]
    assert read_frames(MEDIA / "movie-hello.mp4", 100, 2, info=info).shape == (2, 160, 256, 3)
    for name in ("bbb_first_300s.mp4", "bikes.mp4", "vtest.avi", "phone_dog_vfr.mp4", "tree.avi"):
        assert probe(MEDIA / name).matte is None, name


def framed(picture: np.ndarray, kind: str) -> np.ndarray:
    """``picture`` in black bars: a 16:9 film in a 4:3 frame, or in a 2.39:1 one."""
    h, w = picture.shape[:2]
    if kind == "letterbox":
        top = (w * 3 // 4 - h) // 2
        return cv2.copyMakeBorder(picture, top, top, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    side = (round(h * 2.39) - w) // 2
    return cv2.copyMakeBorder(picture, 0, 0, side, side, cv2.BORDER_CONSTANT, value=(0, 0, 0))


@pytest.mark.parametrize("kind", ["letterbox", "pillarbox"])
def test_a_film_in_black_bars_gets_the_cues_of_the_film(kind, tmp_path):
    # Big Buck Bunny's nuts on the bunny's head (frames 4180-4339: nine hits, three cuts).
    # Read whole, the letterboxed copy lost one hit and the pillarboxed one five (its picture
    # three quarters as wide at the analysis width).
    pictures = list(read_frames(MEDIA / "bbb_first_300s.mp4", 4180, 160, width=640))
    options = {"crf": "16", "preset": "veryfast"}
    plain = encode(tmp_path / "plain.mp4", pictures, Fraction(24), options=options)
    barred = [framed(p, kind) for p in pictures]
    boxed = encode(tmp_path / f"{kind}.mp4", barred, Fraction(24), options=options)
    info = probe(boxed)
    bars = (barred[0].shape[0] - 360) // 2, (barred[0].shape[1] - 640) // 2
    assert info.matte == Matte(bars[1], bars[0], 640, 360)
    assert any(kind + "ed" in n for n in info.notes)
    cuts_a, impacts_a = cuts_and_impacts(tmp_path, plain)
    cuts_b, impacts_b = cuts_and_impacts(tmp_path, boxed)
    assert len(impacts_a) >= 8, "the film shows its hits"
    assert cuts_b == cuts_a
    assert len(impacts_b) == len(impacts_a)
    assert all(abs(a - b) <= 1 for a, b in zip(impacts_a, impacts_b, strict=True))


def bars_clip(path: Path, pictures: list[np.ndarray], **options: str) -> MediaInfo:
    return probe(encode(path, pictures, Fraction(24), options={"g": "8", **options}))


def textured(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(60, 230, (h, w, 3), dtype=np.uint8)


def test_bars_are_found_though_the_film_opens_on_black(tmp_path):
    # A quarter of the clip black (a fade in), then a 2:1 picture in a 16:9 frame.
    black = np.zeros((144, 256, 3), np.uint8)
    pictures = [black.copy() for _ in range(24)]
    for i in range(72):
        picture = black.copy()
        picture[8:136] = textured(128, 256, i)
        pictures.append(picture)
    info = bars_clip(tmp_path / "fade_in.mp4", pictures)
    assert info.matte == Matte(0, 8, 256, 128)
    assert read_frames(info.path, 30, 1, width=None, info=info).shape == (1, 128, 256, 3)


@pytest.mark.parametrize("scene", ["dark sky", "night", "title over the bars"])
def test_the_film_s_own_dark_is_not_a_matte(scene, tmp_path):
    pictures = []
    for i in range(96):
        picture = np.zeros((144, 256, 3), np.uint8)
        if scene == "dark sky":  # black above, lit ground below: bars come in pairs
            picture[50:] = textured(94, 256, i)
        elif scene == "night":  # a lamp in the dark: too small a picture to be one
            picture[60:84, 100:156] = textured(24, 56, i)
        else:  # letterboxed, but one stretch lights the whole frame (a full-frame title)
            picture[16:128] = textured(112, 256, i)
            if 40 <= i < 56:
                picture[:] = textured(144, 256, i)
        pictures.append(picture)
    info = bars_clip(tmp_path / "dark.mp4", pictures)
    assert info.matte is None
    assert read_frames(info.path, 60, 1, width=None, info=info).shape == (1, 144, 256, 3)


def test_a_rotated_phone_clip_in_bars_is_read_upright_inside_them(tmp_path):
    pictures = stamped_source(tmp_path, Fraction(24), 48, objects=[])  # 256x144, index stamped
    coded = [
        cv2.copyMakeBorder(p, 0, 0, 32, 32, cv2.BORDER_CONSTANT, value=(0, 0, 0)) for p in pictures
    ]
    path = encode(tmp_path / "phone.mp4", coded, Fraction(24), rotation=90, options={"g": "4"})
    info = probe(path)
    assert info.matte == Matte(32, 0, 256, 144)
    frames = read_frames(path, 20, 2, width=None, info=info)
    assert frames.shape == (2, 256, 144, 3)  # upright, the bars gone
    assert read_frame_code(np.rot90(frames[1], -1)) == 21


# --- flat pictures ----------------------------------------------------------------------------


def impacts_of(frames: np.ndarray, first: int) -> list[int]:
    det = MotionDetector(threads=1).detect(frames, 24.0)
    return [first + iv.onset for iv in det.intervals if not iv.continuous]


@pytest.mark.parametrize(("first", "count"), [(5371, 59), (6833, 180)])
def test_a_dim_grade_is_stretched_to_the_cues_of_the_film(first, count, tmp_path):
    # Two shots of Big Buck Bunny graded half as bright (Bunny ducking behind a tree; the
    # bunny at work in the meadow): read as they are, each shows a stop that is no contact
    # (5427, 6909); stretched back to ordinary contrast, what the film shows: none.
    film = read_frames(MEDIA / "bbb_first_300s.mp4", first, count)
    dim = [(f.astype(np.float32) * 0.5).round().astype(np.uint8) for f in film]
    path = encode(tmp_path / "dim.mp4", dim, Fraction(24), options={"qp": "0"})
    info = probe(path)
    assert info.stretch is not None and 1.5 <= info.stretch.gain <= 2.5
    assert any("dim (its pictures span grey levels" in n and "stretched" in n for n in info.notes)
    stretched = read_frames(path, 0, count, width=None, info=info)
    as_it_is = read_frames(path, 0, count, width=None, info=replace(info, stretch=None))
    want = impacts_of(film, first)
    assert impacts_of(stretched, first) == want
    assert impacts_of(as_it_is, first) != want, "the dim copy no longer shows a false stop"


def test_only_a_dim_picture_is_stretched(tmp_path):
    rng = np.random.default_rng(3)

    def grey(low: int, high: int) -> np.ndarray:
        return np.repeat(rng.integers(low, high, (144, 256, 1), dtype=np.uint8), 3, 2)

    info = bars_clip(tmp_path / "dim.mp4", [grey(20, 80) for _ in range(48)])
    assert info.stretch is not None and 2.2 <= info.stretch.gain <= 3.0
    read = read_frames(info.path, 20, 1, width=None, info=info)[0]
    low, high = np.percentile(cv2.cvtColor(read, cv2.COLOR_BGR2GRAY), (1, 99))
    assert 145 <= high - low <= 175  # ordinary contrast now
    ordinary = [grey(40, 230) for _ in range(48)]
    assert bars_clip(tmp_path / "ordinary.mp4", ordinary).stretch is None
    # Flat but not dim (a plain wall, a generated backdrop): read as it is.
    assert bars_clip(tmp_path / "wall.mp4", [grey(100, 160) for _ in range(48)]).stretch is None
    # A fade from black says nothing of the film's contrast: its black frames are not counted.
    faded = [np.zeros((144, 256, 3), np.uint8)] * 70 + ordinary
    assert bars_clip(tmp_path / "faded.mp4", faded).stretch is None
    for name in ("bbb_first_300s.mp4", "bikes.mp4", "vtest.avi", "carphone_pristine.mp4"):
        assert probe(MEDIA / name).stretch is None, name
