"""bench/eyes_speed.py runs (tiny, on CPU) and reports what it promises; numbers are not judged."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

BENCH = Path(__file__).resolve().parents[1] / "bench" / "eyes_speed.py"


def test_eyes_bench_runs_tiny_on_cpu(capsys):
    spec = importlib.util.spec_from_file_location("eyes_speed", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--device", "cpu", "--tiny", "--tokens", "4", "--seconds", "2", "--repeats", "1"]
    results = bench.main([*argv, "--batch", "2", "--windows-per-batch", "2"])
    printed = capsys.readouterr().out
    assert "one shot" in printed and "frames/s" in printed and "peak" in printed
    vlm, detector = results["vlm"], results["detector"]
    assert vlm["batch"] == 2 and vlm["new_tokens"] == 4 and vlm["prompt_tokens"] > 100
    assert vlm["shot_latency_s"] > 0 and vlm["shots_per_s"] > 0 and vlm["peak_gib_batch"] > 0
    assert detector["frames"] == 48 and detector["frames_per_s"] > 0
    assert detector["vs_embedded"] > 0 and detector["batch_speedup"] > 0
