"""The R(2+1)D-18 timestamp detector and its training (paper sec. 3.4, eq. 7-8), tiny on CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")

from sonicvision.errors import ConfigError  # noqa: E402
from sonicvision.server.backends import build_detector, names  # noqa: E402
from sonicvision.server.detect.r2plus1d import R2Plus1DDetector, intervals_from_scores  # noqa: E402
from sonicvision.server.metrics import activity_from_audio  # noqa: E402
from sonicvision.server.models.r2plus1d import (  # noqa: E402
    KINETICS_FILE,
    DetectorConfig,
    FrameDetector,
    build_model,
    frame_logits,
    load_checkpoint,
    save_checkpoint,
    window_starts,
)
from sonicvision.server.synthetic_scenes import ObjectSpec, SceneSpec, render_frames, render_scene  # noqa: E402
from sonicvision.server.train.detector import (  # noqa: E402
    LabelOptions,
    TrainConfig,
    evaluate,
    event_weights,
    find_videos,
    frame_ap,
    labels_from_audio,
    load_clips,
    read_audio,
    train_detector,
)

TINY = DetectorConfig(width=8, frame_size=32, window=16, overlap=4)
RATE = 25
SR = 16_000


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny convolutions gain nothing from threads, and lose much on shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model(config: DetectorConfig = TINY) -> FrameDetector:
    torch.manual_seed(0)
    return FrameDetector(config).eval()


# --- the network keeps time ----------------------------------------------------------------


@pytest.mark.parametrize("t", [1, 2, 7, 16])
def test_network_gives_one_logit_per_input_frame(t):
    model = tiny_model()
    x = torch.randn(2, 3, t, 32, 32)
    assert model(x).shape == (2, t)


def test_backbone_matches_torchvision_r2plus1d_18_and_loads_kinetics(tmp_path, monkeypatch):
    """Full width: torchvision's keys and shapes, its weights load strictly from the hub cache."""
    from torchvision.models.video import r2plus1d_18

    torch.manual_seed(1)
    reference = r2plus1d_18().state_dict()
    (tmp_path / "checkpoints").mkdir()
    torch.save(reference, tmp_path / "checkpoints" / KINETICS_FILE)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    model = build_model(DetectorConfig(), "auto")
    ours = model.backbone.state_dict()
    assert {k: v.shape for k, v in ours.items()} == {
        k: v.shape for k, v in reference.items() if not k.startswith("fc.")
    }
    for key in ("stem.0.weight", "layer2.0.conv1.0.3.weight", "layer4.1.conv2.1.running_var"):
        assert torch.equal(ours[key], reference[key])
    # layers 2-4 stride space, never time
    for name in ("layer2", "layer3", "layer4"):
        block = getattr(model.backbone, name)[0]
        assert block.conv1[0][3].stride == (1, 1, 1)
        assert block.downsample[0].stride == (1, 2, 2)
    assert model.head[0].in_features == 512 and model.head[0].out_features == 128
    # without the file, "auto" is a random start, and an explicit path must exist
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty"))
    fresh = build_model(DetectorConfig(), "auto").backbone.state_dict()
    assert not torch.equal(fresh["stem.0.weight"], reference["stem.0.weight"])
    with pytest.raises(ConfigError, match="not found"):
        build_model(DetectorConfig(), tmp_path / "missing.pth")


# --- windows ---------------------------------------------------------------------------------


def test_window_starts_cover_every_frame_with_full_windows():
    assert window_starts(10, 16, 4) == [0]
    assert window_starts(16, 16, 4) == [0]
    assert window_starts(40, 16, 6) == [0, 10, 20, 24]
    for n in (17, 33, 100):
        starts = window_starts(n, 16, 4)
        covered = np.zeros(n, int)
        for s in starts:
            covered[s : s + 16] += 1
        assert covered.min() >= 1 and starts[-1] + 16 == n


@pytest.mark.parametrize(("t", "overlap"), [(5, 4), (16, 4), (16, 0), (57, 4), (57, 15), (40, 6)])
def test_detector_gives_one_value_per_frame_at_any_length(t, overlap):
    config = DetectorConfig(width=8, frame_size=32, window=16, overlap=overlap, windows_per_batch=3)
    detector = R2Plus1DDetector(tiny_model(config))
    frames = np.random.default_rng(t).integers(0, 256, (t, 36, 64, 3), np.uint8)
    detection = detector.detect(frames, RATE)
    assert detection.activity.shape == (t,) and detection.activity.dtype == bool
    assert detection.scores.shape == (t,)
    assert ((detection.scores > 0) & (detection.scores < 1)).all()
    np.testing.assert_array_equal(detection.activity, detection.scores > 0.5)


def test_overlapping_windows_are_averaged():
    model = tiny_model()
    frames = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), np.uint8)
    config = DetectorConfig(width=8, frame_size=32, window=16, overlap=6, windows_per_batch=2)
    stitched = frame_logits(model, frames, config)
    total, count = np.zeros(40), np.zeros(40)
    for start in (0, 10, 20, 24):
        alone = frame_logits(model, frames[start : start + 16], config)
        total[start : start + 16] += alone
        count[start : start + 16] += 1
    np.testing.assert_allclose(stitched, total / count, rtol=1e-4, atol=1e-5)
    assert count.max() == 3  # frames 24-25 lie in three windows


def test_intervals_are_runs_above_threshold():
    probs = np.array([0.1, 0.9, 0.8, 0.2, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.3])
    activity, intervals = intervals_from_scores(probs, rate=25, threshold=0.5, min_continuous_s=0.3)
    np.testing.assert_array_equal(activity, probs > 0.5)
    assert [(i.onset, i.end, i.continuous, i.motion) for i in intervals] == [
        (1, 3, False, "impact"),
        (4, 13, True, "continuous"),  # 9 frames = 0.36 s > 0.3 s
    ]
    assert intervals[0].strength == pytest.approx(0.9)


# --- checkpoints and the registry -----------------------------------------------------------


def test_checkpoint_round_trip_and_registry(tmp_path):
    model = tiny_model()
    save_checkpoint(model, tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    loaded = load_checkpoint(tmp_path / "ckpt")
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)

    assert "r2plus1d" in names("detector")
    detector = build_detector(f"r2plus1d:{tmp_path / 'ckpt'},threshold=0.3,window=8,device=cpu")
    assert detector.config.threshold == 0.3 and detector.config.window == 8
    assert detector.config.width == 8 and detector.device == "cpu"  # shape from the checkpoint
    frames = np.zeros((20, 36, 64, 3), np.uint8)
    assert detector.detect(frames, RATE).activity.shape == (20,)

    with pytest.raises(ConfigError, match="train detector"):
        build_detector("r2plus1d")
    with pytest.raises(ConfigError, match="not found"):
        build_detector(f"r2plus1d:{tmp_path / 'nope'}")
    with pytest.raises(ConfigError, match="unknown option 'thresh'"):
        build_detector(f"r2plus1d:{tmp_path / 'ckpt'},thresh=0.3")
    # strict loading: a weight file that does not match its config is refused
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    config["head_hidden"] = 64
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(config))
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_checkpoint(tmp_path / "ckpt")


# --- labels: eq. 7-8 and the paper's weights -------------------------------------------------


def _bursts(spans: list[tuple[float, float]], seconds: float) -> np.ndarray:
    audio = np.zeros(int(seconds * SR), np.float32)
    t = np.arange(audio.size) / SR
    for start, end in spans:
        inside = (t >= start) & (t < end)
        audio[inside] = 0.5 * np.sin(2 * np.pi * 1000 * t[inside])
    return audio


def test_labels_from_audio_follow_eq_7_and_8_exactly():
    spans = [(0.50, 0.62), (0.63, 0.70), (0.90, 0.95), (0.98, 1.00), (1.20, 1.25)]
    audio = _bursts(spans, 1.6)
    labels, events = labels_from_audio(audio, SR, RATE, 40, LabelOptions())
    # the 10 ms gap merges (<= 0.02 s), the 30 ms gap does not
    assert [(round(s, 3), round(e, 3)) for s, e in events] == [
        (0.50, 0.70),
        (0.90, 0.95),
        (0.98, 1.00),
        (1.20, 1.25),
    ]
    # frame i spans [i/25, (i+1)/25): 0.50-0.70 -> 12..17, 0.90-1.00 -> 22..24, 1.20-1.25 -> 30..31
    expected = np.zeros(40, bool)
    expected[[12, 13, 14, 15, 16, 17, 22, 23, 24, 30, 31]] = True
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(
        labels, activity_from_audio(audio, SR, RATE, duration_s=40 / RATE)
    )

    weights = event_weights(events, labels, RATE, 0, 40)
    total = 0.20 + 0.05 + 0.02 + 0.05
    assert weights[~labels].sum() == pytest.approx(1.0)
    assert weights[labels].sum() == pytest.approx(1.0, abs=1e-3)
    assert weights[12] == pytest.approx(0.20 / total / 6, rel=1e-2)  # event 1: 6 frames
    assert weights[30] == pytest.approx(0.05 / total / 2, rel=1e-2)
    assert weights[24] == pytest.approx(0.02 / total / 1, rel=1e-2)  # only event 3 is in 24
    # a window cuts events: only what lies inside counts
    part = event_weights(events, labels, RATE, 15, 23)
    assert part[~labels[15:23]].sum() == pytest.approx(1.0)
    assert part[0] == pytest.approx(0.10 / 0.12 / 3, rel=2e-2)  # 0.60-0.70 s of event 1


def test_frame_ap():
    labels = np.array([0, 1, 0, 1, 0], bool)
    assert frame_ap(np.array([0.1, 0.9, 0.2, 0.8, 0.3]), labels) == pytest.approx(1.0)
    assert frame_ap(np.array([0.9, 0.1, 0.8, 0.2, 0.3]), labels) == pytest.approx(
        (1 / 4 + 2 / 5) / 2
    )
    assert frame_ap(np.full(5, 0.5), labels) == pytest.approx(0.4)  # ties rank together
    assert np.isnan(frame_ap(np.ones(3), np.zeros(3, bool)))


def test_audio_inside_the_video_is_read(tmp_path):
    path = tmp_path / "with_sound.mkv"
    audio = _bursts([(0.2, 0.3)], 1.0)
    pcm = (audio * 32767).astype(np.int16)
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=RATE)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        sound = out.add_stream("pcm_s16le", rate=SR, layout="mono")
        for i in range(RATE):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 8, np.uint8), "rgb24")
            for packet in video.encode(frame):
                out.mux(packet)
        chunk = av.AudioFrame.from_ndarray(pcm[None], format="s16", layout="mono")
        chunk.sample_rate = SR
        for packet in sound.encode(chunk):
            out.mux(packet)
        for stream in (video, sound):
            for packet in stream.encode():
                out.mux(packet)
    decoded, rate = read_audio(path)
    assert rate == SR and abs(decoded.size - audio.size) < SR // 100
    np.testing.assert_allclose(decoded[: audio.size], audio[: decoded.size], atol=1e-3)
    (tmp_path / "silent.mp4").write_bytes(b"")
    clips, notes = load_clips([tmp_path / "silent.mp4", path], 32, LabelOptions())
    assert [c.name for c in clips] == ["with_sound.mkv"] and "silent.mp4" in notes[0]
    assert clips[0].labels.nonzero()[0].tolist() == [5, 6, 7]


# --- training on videos whose sound follows visible contacts --------------------------------


def _clicks(onsets: list[int], n_frames: int) -> np.ndarray:
    audio = np.zeros(int(n_frames / RATE * SR), np.float32)
    n = int(0.04 * SR)
    burst = np.random.default_rng(1).standard_normal(n) * np.exp(-np.arange(n) / (0.006 * SR))
    for frame in onsets:
        i = round(frame / RATE * SR)
        audio[i : i + n] += 0.5 * burst[: audio.size - i]
    return audio


def make_contact_videos(folder: Path, count: int, frames: int = 32) -> list[list[int]]:
    """Videos of two falls each, with a .wav whose clicks sit on the contact frames."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    contacts = []
    for k in range(count):
        a = int(rng.integers(2, 10))
        b = a + int(rng.integers(4, 9))
        a2 = int(rng.integers(b, 20))
        b2 = min(frames - 2, a2 + int(rng.integers(4, 9)))
        objects = [
            ObjectSpec("fall", a, b, x=float(rng.uniform(0.2, 0.4))),
            ObjectSpec("fall", a2, b2, x=float(rng.uniform(0.6, 0.8))),
        ]
        spec = SceneSpec(64, 64, RATE, frames, objects=objects, background="gradient", seed=k)
        truth = render_scene(spec, folder / f"fall{k}.mp4")
        onsets = [e.onset_frame for e in truth.impacts]
        sf.write(folder / f"fall{k}.wav", _clicks(onsets, frames), SR)
        contacts.append(onsets)
    return contacts


@pytest.fixture(scope="module")
def contact_data(tmp_path_factory) -> tuple[Path, list[list[int]]]:
    folder = tmp_path_factory.mktemp("contacts")
    return folder, make_contact_videos(folder / "train", 8)


def test_training_lowers_the_loss_and_raises_ap(contact_data, tmp_path):
    folder, contacts = contact_data
    clips, notes = load_clips(find_videos(folder / "train"), TINY.frame_size, LabelOptions())
    assert not notes and len(clips) == 8
    for clip, onsets in zip(clips, contacts, strict=True):
        assert all(clip.labels[f] for f in onsets)  # the clicks label the contact frames
    val = folder / "val"  # two of the same videos: cheap per-epoch numbers
    val.mkdir(exist_ok=True)
    for name in ("fall0.mp4", "fall0.wav", "fall1.mp4", "fall1.wav"):
        (val / name).write_bytes((folder / "train" / name).read_bytes())

    train = TrainConfig(epochs=25, batch_size=8, lr=1e-3, pretrained="none")
    torch.manual_seed(train.seed)
    before = evaluate(FrameDetector(TINY), clips)  # the same start as train_detector's
    reports = train_detector(
        folder / "train", tmp_path / "ckpt", detector=TINY, train=train, val=val, device="cpu"
    )
    assert [r.epoch for r in reports] == list(range(1, 26)) and reports[-1].step == 50
    after = evaluate(load_checkpoint(tmp_path / "ckpt"), clips)
    assert after.loss < 0.5 * before.loss
    assert after.frame_ap > before.frame_ap + 0.4
    assert after.onset_ap > before.onset_ap + 0.4
    assert after.accuracy > before.accuracy
    assert reports[-1].val.frame_ap > reports[0].val.frame_ap

    detector = build_detector(f"r2plus1d:{tmp_path / 'ckpt'}")
    frames = render_frames(
        SceneSpec(
            64, 64, RATE, 32, objects=[ObjectSpec("fall", 3, 10, x=0.3)], background="gradient"
        )
    )
    onsets = [iv.onset for iv in detector.detect(frames, RATE).intervals]
    assert any(abs(onset - 10) <= 1 for onset in onsets)  # the unseen scene's contact


def _train(folder: Path, out: Path, *extra: str) -> int:
    from sonicvision.cli import main

    argv = ["train", "detector", "--data", str(folder), "--out", str(out), "--width", "8"]
    argv += ["--frame-size", "32", "--window", "16", "--overlap", "4", "--batch-size", "4"]
    argv += ["--lr", "1e-3", "--pretrained", "none", "--device", "cpu", "--val-fraction", "0.25"]
    return main([*argv, *extra])


def test_cli_resume_reproduces_an_uninterrupted_run(tmp_path, capsys):
    folder = tmp_path / "data"
    make_contact_videos(folder, 4, frames=24)
    assert _train(folder, tmp_path / "a", "--epochs", "2") == 0
    printed = capsys.readouterr().out
    assert printed.count("val: loss") == 2 and "frame AP" in printed and "onset AP" in printed
    assert (tmp_path / "a.cache").is_dir()  # decoded frames, beside the checkpoint

    assert _train(folder, tmp_path / "a", "--epochs", "3") == 2  # never over a checkpoint
    assert "--resume" in capsys.readouterr().err
    assert _train(folder, tmp_path / "a", "--epochs", "3", "--resume") == 0
    assert _train(folder, tmp_path / "b", "--epochs", "3", "--json") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[-1])["epoch"] == 3
    state = json.loads((tmp_path / "a" / "trainer_state.json").read_text())
    assert state["epoch"] == 3 and [h["epoch"] for h in state["history"]] == [1, 2, 3]
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


def test_core_cli_pieces_import_without_torch():
    code = (
        "import sys\n"
        "import sonicvision.cli, sonicvision.server.backends\n"
        "import sonicvision.server.describe.vlm, sonicvision.cli.train\n"
        "heavy = [m for m in ('torch', 'torchvision', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
