"""Speed of the paper's eyes at real size with random weights: VLM describer and R(2+1)D detector.

VLM: a Qwen2.5-VL-3B-shaped model (3.75 B parameters, bf16 on GPU) built from its config with
an offline byte tokenizer; each shot is the paper's prompt (4 frames at ``--frame-size``,
temporal cues, instruction) and ``--tokens`` generated tokens (forced: random weights would
stop at random). Printed: one shot's latency, shots/s when ``--batch`` shots go together, and
the ratio batch / one-at-a-time.

Detector: the full R(2+1)D-18 (time axis kept, 31 M parameters) reading a ``--seconds`` shot
at the pipeline's analysis size (256 px) in windows of 48 with overlap 16. Printed: the shot's
latency, frames/s, the ratio with ``--windows-per-batch`` windows per forward against one, and
against the embedded optical-flow detector on the same frames (same process).

Peak memory on a GPU is the caching allocator's peak reservation (what the run holds), with
the device's memory in use after it, CUDA context included (``--json`` has the allocated peak
too); on a CPU, the process's peak RSS. Prompt tokens: image tokens are exact (the processor's
own counts); text tokens come from the byte-level stand-in tokenizer, ~4x the real BPE's.

    python bench/eyes_speed.py                      # GPU, real sizes
    python bench/eyes_speed.py --device cpu --tiny  # seconds, checks the script itself
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from sonicvision.server.describe.vlm import conversation
from sonicvision.server.detect.motion import MotionDetector
from sonicvision.server.detect.r2plus1d import R2Plus1DDetector
from sonicvision.server.models.device import memory_report
from sonicvision.server.models.r2plus1d import DetectorConfig, FrameDetector
from sonicvision.server.models.vlm import LocalVLM
from sonicvision.server.testing.models import qwen25_vl


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return memory_report(device)["reserved"]
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def bench_vlm(args: argparse.Namespace, device: torch.device) -> dict:
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    torch.manual_seed(0)
    started = time.perf_counter()
    model, processor = qwen25_vl("tiny" if args.tiny else "3b", device=str(device), dtype=dtype)
    built_s = time.perf_counter() - started
    vlm = LocalVLM(model, processor, max_new_tokens=args.tokens)
    h, w = round(args.frame_size * 9 / 16), args.frame_size
    rng = np.random.default_rng(0)

    def shots(n: int) -> list[list[np.ndarray]]:
        return [[rng.integers(0, 256, (h, w, 3), np.uint8) for _ in range(4)] for _ in range(n)]

    def run(n: int) -> Callable[[], object]:
        images = shots(n)
        chats = [conversation(4)] * n

        def go() -> object:
            inputs = vlm.prepare(chats, images)
            return model.generate(
                **inputs,
                max_new_tokens=args.tokens,
                min_new_tokens=args.tokens,
                do_sample=False,
            )

        return go

    ids = vlm.prepare([conversation(4)], shots(1))["input_ids"]
    prompt_tokens = int(ids.shape[1])
    image_tokens = int((ids == model.config.image_token_id).sum())
    _reset_peak(device)
    one = _timed(run(1), device, args.repeats)
    peak_one = _peak_gib(device)
    _reset_peak(device)
    batch = _timed(run(args.batch), device, args.repeats)
    peak_batch = _peak_gib(device)
    result = {
        "params_b": sum(p.numel() for p in model.parameters()) / 1e9,
        "build_s": built_s,
        "prompt_tokens": prompt_tokens,
        "image_tokens": image_tokens,  # exact
        "text_tokens_stand_in": prompt_tokens - image_tokens,  # byte tokenizer, ~4x real
        "memory_gib": memory_report(device),
        "new_tokens": args.tokens,
        "shot_latency_s": one,
        "batch": args.batch,
        "batch_s": batch,
        "shots_per_s": args.batch / batch,
        "batch_speedup": one * args.batch / batch,
        "peak_gib_one": peak_one,
        "peak_gib_batch": peak_batch,
    }
    return result


def bench_detector(args: argparse.Namespace, device: torch.device) -> dict:
    config = (
        DetectorConfig(width=8, frame_size=32, window=16, overlap=4)
        if args.tiny
        else DetectorConfig()
    )
    torch.manual_seed(0)
    model = FrameDetector(config).to(device).eval()
    rate = 24.0
    n = max(2, round(args.seconds * rate))
    frames = np.random.default_rng(0).integers(0, 256, (n, 144, 256, 3), np.uint8)
    single = R2Plus1DDetector(model, replace(config, windows_per_batch=1))
    batched = R2Plus1DDetector(model, replace(config, windows_per_batch=args.windows_per_batch))
    _reset_peak(device)
    batched_s = _timed(lambda: batched.detect(frames, rate), device, args.repeats)
    peak = _peak_gib(device)
    single_s = _timed(lambda: single.detect(frames, rate), device, args.repeats)
    motion = MotionDetector()
    motion_s = _timed(lambda: motion.detect(frames, rate), torch.device("cpu"), 1)
    return {
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "frames": n,
        "shot_latency_s": batched_s,
        "frames_per_s": n / batched_s,
        "windows_per_batch": args.windows_per_batch,
        "batch_speedup": single_s / batched_s,
        "embedded_frames_per_s": n / motion_s,
        "vs_embedded": motion_s / batched_s,
        "peak_gib": peak,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--tiny", action="store_true", help="test-sized models (seconds on a CPU)")
    p.add_argument("--batch", type=int, default=8, help="shots per VLM generate call")
    p.add_argument("--tokens", type=int, default=64, help="generated tokens per answer")
    p.add_argument("--frame-size", type=int, help="longest edge of a frame (448; tiny: 64)")
    p.add_argument("--seconds", type=float, default=10.0, help="detector shot length at 24 fps")
    p.add_argument("--windows-per-batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-vlm", action="store_true")
    p.add_argument("--skip-detector", action="store_true")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    args.frame_size = args.frame_size or (64 if args.tiny else 448)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    results: dict = {"device": name, "tiny": args.tiny}
    if not args.skip_vlm:
        results["vlm"] = bench_vlm(args, device)
        if device.type == "cuda":
            torch.cuda.empty_cache()  # the VLM is gone; the detector's peak is its own
    if not args.skip_detector:
        results["detector"] = bench_detector(args, device)
    if args.json:
        print(json.dumps(results, indent=2))
        return results
    print(f"device: {name}{'  (tiny models)' if args.tiny else ''}")
    if "vlm" in results:
        v = results["vlm"]
        print(
            f"VLM  {v['params_b']:.2f} B params, prompt {v['prompt_tokens']} tokens "
            f"({v['image_tokens']} image, exact; {v['text_tokens_stand_in']} text, stand-in "
            "tokenizer), "
            f"{v['new_tokens']} new tokens\n"
            f"     one shot {v['shot_latency_s'] * 1e3:.0f} ms | batch {v['batch']}: "
            f"{v['batch_s'] * 1e3:.0f} ms, {v['shots_per_s']:.2f} shots/s "
            f"({v['batch_speedup']:.2f}x one at a time) | peak reserved {v['peak_gib_one']:.2f} / "
            f"{v['peak_gib_batch']:.2f} GiB"
        )
    if "detector" in results:
        d = results["detector"]
        print(
            f"R(2+1)D  {d['params_m']:.1f} M params, {d['frames']}-frame shot\n"
            f"     shot {d['shot_latency_s'] * 1e3:.0f} ms, {d['frames_per_s']:.0f} frames/s "
            f"({d['batch_speedup']:.2f}x with {d['windows_per_batch']} windows per forward vs 1; "
            f"{d['vs_embedded']:.2f}x the embedded detector's {d['embedded_frames_per_s']:.0f} "
            f"frames/s) | peak {d['peak_gib']:.2f} GiB"
        )
    return results


if __name__ == "__main__":
    main()
