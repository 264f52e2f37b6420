"""Frame access: exact rates, exact seeking (frame index drawn into each picture), clear errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from sonicvision.adapters.timecode import nominal_rate
from sonicvision.errors import MediaError
from sonicvision.server.frames import (
    analysis_size,
    iter_frames,
    probe,
    read_frames,
)
from sonicvision.server.synthetic_scenes import (
    SceneSpec,
    draw_frame_code,
    read_frame_code,
    render_scene,
)

NTSC_24 = Fraction(24000, 1001)
NTSC_30 = Fraction(30000, 1001)


def _stamped_frames(n: int, w: int = 256, h: int = 144) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    base = cv2.resize(rng.integers(60, 200, (h // 8, w // 8, 3), dtype=np.uint8), (w, h))
    frames = []
    for i in range(n):
        img = base.copy()
        draw_frame_code(img, i)
        frames.append(img)
    return frames


def _encode(path: Path, rate: Fraction, n: int, codec: str = "mpeg4", **opts: int) -> Path:
    """Write stamped frames with PyAV (containers and codecs OpenCV does not write)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = 256, 144, "yuv420p"
        for key, value in opts.items():
            setattr(stream.codec_context, key, value)
        for img in _stamped_frames(n):
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Stamped clips: OpenCV mp4v at three rates, PyAV MKV (1 ms timestamps), MPEG-TS
    (timestamps that start at 3003), and a variable-frame-rate MKV."""
    root = tmp_path_factory.mktemp("frames")
    out = {}
    for name, rate in (("23.976", NTSC_24), ("25", Fraction(25)), ("29.97", NTSC_30)):
        spec = SceneSpec(width=256, height=144, rate=float(rate), frames=64, stamp_index=True)
        out[name] = render_scene(spec, root / f"clip_{name}.mp4").path
    out["mkv"] = _encode(root / "clip.mkv", NTSC_24, 50, gop_size=10)
    out["ts"] = _encode(root / "clip.ts", NTSC_30, 50, codec="mpeg2video", gop_size=10)
    cfr = _encode(root / "intra.mkv", Fraction(25), 40, gop_size=1)
    out["vfr"] = _retime(cfr, root / "vfr.mkv", [40, 40, 20, 60, 40, 33, 47])
    return out


def _retime(src: Path, dst: Path, durations_ms: list[int]) -> Path:
    """Copy ``src`` (intra-only) with the given frame durations: a variable frame rate."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        ost.time_base = Fraction(1, 1000)
        t = 0
        for i, packet in enumerate(p for p in inp.demux(ist) if p.size):
            packet.stream, packet.time_base = ost, Fraction(1, 1000)
            packet.pts = packet.dts = t
            t += durations_ms[i % len(durations_ms)]
            out.mux(packet)
    return dst


@pytest.mark.parametrize(
    ("name", "rate", "count"),
    [
        ("23.976", NTSC_24, 64),
        ("25", Fraction(25), 64),
        ("29.97", NTSC_30, 64),
        ("mkv", NTSC_24, 50),
        ("ts", NTSC_30, 50),
    ],
)
def test_probe_reads_exact_rate_and_count(clips, name, rate, count):
    info = probe(clips[name])
    assert info.rate_exact == rate
    assert info.rate == pytest.approx(float(rate))
    assert info.frame_count == count
    assert (info.width, info.height) == (256, 144)
    assert info.duration_s == pytest.approx(count / float(rate), rel=1e-5)
    assert not info.is_vfr and not info.is_still


def test_opencv_ntsc_rate_is_stored_rounded_and_read_exact(clips):
    # OpenCV stores 23.976 as 2997/125; the nominal rate is the editors' 24000/1001.
    info = probe(clips["23.976"])
    assert info.stream_rate == Fraction(2997, 125)
    assert info.rate_exact == NTSC_24


@pytest.mark.parametrize("name", ["23.976", "25", "29.97", "mkv", "ts"])
@pytest.mark.parametrize("start", [0, 1, 9, 10, 11, 12, 13, 25, 37])
def test_read_frames_seeks_to_the_exact_frame(clips, name, start):
    frames = read_frames(clips[name], start, 6, width=None)
    assert [read_frame_code(f) for f in frames] == list(range(start, start + 6))


def test_read_frames_to_the_last_frame_and_resized(clips):
    info = probe(clips["29.97"])
    frames = read_frames(clips["29.97"], info.frame_count - 3, 3, width=160, info=info)
    assert frames.shape == (3, 90, 160, 3) and frames.dtype == np.uint8
    assert [read_frame_code(f) for f in frames] == [61, 62, 63]


def test_iter_frames_yields_one_frame_at_a_time_like_read_frames(clips):
    it = iter_frames(clips["25"], 20, 7, width=200)
    first = next(it)
    assert first.shape == (112, 200, 3)
    rest = list(it)
    assert len(rest) == 6
    expected = read_frames(clips["25"], 20, 7, width=200)
    np.testing.assert_array_equal(np.stack([first, *rest]), expected)
    assert [read_frame_code(f) for f in expected] == list(range(20, 27))


def test_iter_frames_to_the_end_by_default(clips):
    codes = [read_frame_code(f) for f in iter_frames(clips["mkv"], 44)]
    assert codes == list(range(44, 50))


def test_analysis_size_keeps_aspect_with_even_sides():
    assert analysis_size(1920, 1080, 320) == (320, 180)
    assert analysis_size(1920, 1080, 321) == (320, 180)
    assert analysis_size(720, 576, 320) == (320, 256)
    assert analysis_size(2048, 858, 320) == (320, 134)
    assert analysis_size(1280, 720, None) == (1280, 720)
    assert analysis_size(256, 144, 320) == (256, 144)  # never upscaled
    with pytest.raises(ValueError):
        analysis_size(1920, 1080, 1)


@pytest.mark.parametrize(
    ("stored", "nominal"),
    [
        (Fraction(2997, 125), NTSC_24),
        (Fraction(2997, 100), NTSC_30),
        (Fraction(2997, 50), Fraction(60000, 1001)),
        (Fraction(24), Fraction(24)),
        (Fraction(25000001, 1000000), Fraction(25)),
        (Fraction(25, 2), Fraction(25, 2)),
    ],
)
def test_nominal_rate(stored, nominal):
    assert nominal_rate(stored) == nominal


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.mov"
    with pytest.raises(MediaError, match="not found") as err:
        probe(path)
    assert err.value.path == str(path)


def test_corrupt_file_is_refused(tmp_path):
    path = tmp_path / "junk.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError) as err:
        read_frames(path, 0, 2)
    assert err.value.path == str(path)


def test_truncated_file_is_refused(clips, tmp_path):
    data = clips["25"].read_bytes()
    path = tmp_path / "half.mp4"
    path.write_bytes(data[: len(data) // 2])  # OpenCV's mp4 keeps its index at the end
    with pytest.raises(MediaError):
        read_frames(path, 0, 10)


@pytest.mark.parametrize(("start", "count"), [(60, 5), (64, 1), (-1, 3), (0, -2), (0, 65)])
def test_range_outside_the_media_is_refused_before_decoding(clips, start, count):
    with pytest.raises(MediaError, match="64 frames|>= 0") as err:
        iter_frames(clips["25"], start, count)  # raised here, not at the first next()
    assert err.value.path == str(clips["25"])


def test_empty_range_is_empty(clips):
    assert read_frames(clips["25"], 64, 0).shape == (0, 144, 256, 3)


def test_variable_frame_rate_shows_the_picture_a_player_shows(clips):
    # Each frame time n / 25 shows the latest picture whose timestamp is at or before it.
    info = probe(clips["vfr"])
    assert info.is_vfr and info.rate_exact == 25
    assert any("variable frame rate" in n for n in info.notes)
    durations = [40, 40, 20, 60, 40, 33, 47]
    times = np.cumsum([0] + [durations[i % 7] for i in range(39)])
    expected = [int(np.searchsorted(times, n * 40, side="right")) - 1 for n in range(30)]
    assert [read_frame_code(f) for f in read_frames(clips["vfr"], 0, 30, width=None)] == expected
    assert [read_frame_code(f) for f in read_frames(clips["vfr"], 17, 5, width=None)] == (
        expected[17:22]
    )


def test_millisecond_timestamps_are_not_mistaken_for_vfr(clips):
    # MKV stores 23.976 frames 41 or 42 ms apart: rounding, not a variable rate.
    with av.open(str(clips["mkv"])) as c:
        pts = sorted(p.pts for p in c.demux(c.streams.video[0]) if p.pts is not None)
    assert set(np.diff(pts)) == {41, 42}
    assert not probe(clips["mkv"]).is_vfr


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_still_image_holds_for_any_range(tmp_path, suffix):
    img = _stamped_frames(8)[7]
    path = tmp_path / f"still{suffix}"
    cv2.imwrite(str(path), img)
    info = probe(path)
    assert info.is_still and info.frame_count == 1 and info.rate == 0.0
    frames = read_frames(path, 100, 3, width=None)
    assert frames.shape == (3, 144, 256, 3)
    assert [read_frame_code(f) for f in frames] == [7, 7, 7]


def test_single_frame_video_is_a_still(tmp_path):
    gt = render_scene(SceneSpec(width=128, height=72, frames=1), tmp_path / "one.mp4")
    info = probe(gt.path)
    assert info.is_still and info.frame_count == 1
    assert read_frames(gt.path, 0, 2, width=64).shape == (2, 36, 64, 3)


MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "media"


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_b_frames_are_not_mistaken_for_a_variable_rate(tmp_path, suffix):
    # libx264's default B-frames: in decode order the last mini-GOP's B-frames come after the
    # P-frame they precede, so a probe that stops mid-stream sees one gap it must not trust.
    path = _encode(tmp_path / f"bframes{suffix}", Fraction(25), 150, codec="libx264")
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.has_b_frames
    info = probe(path)
    assert not info.is_vfr and info.rate_exact == 25 and info.frame_count == 150
    assert [read_frame_code(f) for f in read_frames(path, 140, 10, width=None)] == list(
        range(140, 150)
    )


def test_rate_comes_from_timestamps_not_the_container_average():
    # movie-hello.mp4: the container's average is 30.12 fps; every timestamp step is 1/30 s.
    info = probe(MEDIA / "movie-hello.mp4")
    assert info.rate_exact == 30 and not info.is_vfr
