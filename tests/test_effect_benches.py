"""The pieces of bench/adapter_effect.py and bench/detector_effect.py on a few clips: the
data makers put each sound where its label says, and the scoring path keeps the timing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import soundfile as sf  # noqa: E402

from sonicvision.server.models.time_condition import log_mel  # noqa: E402
from sonicvision.server.testing.ldm import MODEL_RATE, tiny_components  # noqa: E402

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def adapter_effect():
    return _bench("adapter_effect")


def test_clips_hold_one_burst_where_the_manifest_says(adapter_effect, tmp_path):
    rows = adapter_effect.make_clips(tmp_path, 4, 0.64, seed=3)
    assert [r["caption"] for r in rows] == list(adapter_effect.TIMBRES)
    for row in rows:
        y, rate = sf.read(tmp_path / row["audio"])
        assert rate == MODEL_RATE and y.size == round(0.64 * MODEL_RATE)
        inside = np.zeros(y.size, dtype=bool)
        inside[round(row["start"] * rate) : round(row["end"] * rate)] = True
        assert np.abs(y[inside]).max() > 0.1 and not y[~inside].any()
        assert 0.08 <= row["end"] - row["start"] <= 0.25


def test_scoring_path_keeps_the_timing_and_chance_does_not(adapter_effect, tmp_path):
    rows = adapter_effect.make_clips(tmp_path, 4, 0.64, seed=4)
    audio = [sf.read(tmp_path / r["audio"])[0] for r in rows]
    direct = adapter_effect.score("clips", audio, rows, 0.64)
    assert np.mean(direct.iou) > 0.8 and np.mean(direct.onset_acc) == 1.0
    assert np.median(direct.errors_ms) <= 20

    # the measuring path: the clip's mel, vocoded by Griffin-Lim
    c = tiny_components("tango")
    vocoder = adapter_effect.GriffinLimVocoder(c.mel)
    waves = torch.from_numpy(np.stack(audio).astype(np.float32))
    rebuilt = vocoder(log_mel(waves, c.mel, c.window_frames)).numpy()
    through = adapter_effect.score("griffin-lim", list(rebuilt), rows, 0.64)
    assert np.mean(through.iou) > 0.6 and np.mean(through.onset_acc) >= 0.75

    chance = adapter_effect.chance(rows, 0.64)
    assert np.mean(chance.iou) < np.mean(through.iou)


def test_detector_clips_carry_clicks_on_their_contacts(tmp_path):
    from sonicvision.server.train.detector import LabelOptions, find_videos, load_clips

    bench = _bench("detector_effect")
    contacts = bench.make_videos(tmp_path, 2, seed=5, frames=32)
    clips, notes = load_clips(find_videos(tmp_path), 32, LabelOptions())
    assert not notes
    for clip, onsets in zip(clips, contacts, strict=True):
        assert len(onsets) == 2 and all(clip.labels[f] for f in onsets)
        assert clip.labels.mean() < 0.3
