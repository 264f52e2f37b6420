"""Speed of the time-controlled generator: the paper's sampling against ours, same process.

Random weights at the published sizes, from the published configs: Tango's UNet
(configs/diffusion_model_config.json, as loading.TANGO_UNET_CONFIG keeps it: sample_size
[32, 2] left as published, never read), the adapter copied from it, Tango's own VAE
(vae_config.json, scale 0.92279) and HiFi-GAN, FLAN-T5-large (24 layers). The window is what
the loader gives Tango: 1024 mel frames = 10.24 s (TANGO_WINDOW_FRAMES; Tango's
prepare_latents hard-codes (8, 256, 16) latents). Text goes through a byte-level stand-in
tokenizer with FLAN-T5's special ids (the real spiece.model is not in the repo): prompts are
~4x longer in tokens than with the real vocabulary, which only the text encoder feels.

Printed, as GPU seconds per 10.24 s clip (text encoding, time condition, denoising, VAE,
vocoder), each the median of ``--repeats`` timed runs after a warm-up:

- paper: DDPM 200 steps, one clip at a time, float32 with TF32 matmuls allowed (as PyTorch
  runs fp32 on an Ampere+ GPU when asked: stated in the output), with the adapter (CFG batch 2);
- ours: DPM-Solver++ 25 steps, ``--clips`` clips in batches of ``--batch``, fp16;
- their ratio (aim >= 40x) and each one's memory: peak allocated, peak reserved (the caching
  allocator's hold: what the run needs) and the device's memory in use after the run, CUDA
  context included;
- low-VRAM: fp16, model CPU offload (one model on the GPU at a time), VAE slicing, batch 4;
  aim: device memory in use (context included) <= 8 GB.

    python bench/ldm_speed.py [--device cuda] [--clips 32] [--batch 32] [--repeats 3]
    python bench/ldm_speed.py --device cpu --tiny      # smoke test with tiny models (seconds)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig, T5Config, T5EncoderModel

from sonicvision.server.generate.ldm import LDMGenerator, Window
from sonicvision.server.models.adapter import TimeControlAdapter, materialize_
from sonicvision.server.models.device import memory_report
from sonicvision.server.models.loading import (
    TANGO_SCHEDULER_CONFIG,
    TANGO_UNET_CONFIG,
    TANGO_VOCODER_CONFIG,
    TANGO_WINDOW_FRAMES,
    LDMComponents,
    tango_vae_config,
)
from sonicvision.server.testing.ldm import tiny_components
from sonicvision.server.testing.published import FLAN_T5, TANGO, read, t5_tokenizer

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "models"
PROMPTS = ["door slams", "footsteps on gravel", "glass breaks", "dog barks", "metal clang"]


def _random_on(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Materialise a meta-built model on ``device`` with default (random) initialisation.

    Parameters of modules with no ``reset_parameters`` (T5's RMS norm) are norm weights: ones.
    """
    materialize_(module, device)
    with torch.no_grad():
        for sub in module.modules():
            if not hasattr(sub, "reset_parameters"):
                for param in sub.parameters(recurse=False):
                    param.fill_(1.0)
    return module


def real_components(device: torch.device) -> LDMComponents:
    """Tango at its published sizes, random weights, laid out as ``load_ldm`` returns it."""
    torch.manual_seed(0)
    t5 = read(FIXTURES, f"{FLAN_T5}/config.json")
    t5 = {k: v for k, v in t5.items() if k not in ("architectures", "transformers_version")}
    with torch.device("meta"):
        unet = UNet2DConditionModel(**TANGO_UNET_CONFIG)
        text_encoder = T5EncoderModel(T5Config(**t5))
    _random_on(unet, device)
    _random_on(text_encoder, device)
    vae = AutoencoderKL(**tango_vae_config(read(FIXTURES, f"{TANGO}/vae_config.json"))).to(device)
    vocoder = SpeechT5HifiGan(
        SpeechT5HifiGanConfig(**TANGO_VOCODER_CONFIG, upsample_initial_channel=1024)
    ).to(device)
    tokenizer = t5_tokenizer(read(FIXTURES, f"{FLAN_T5}/tokenizer_config.json"), t5["vocab_size"])
    return LDMComponents(
        "tango",
        Path("random-weights"),
        unet,
        vae,
        vocoder,
        text_encoder,
        tokenizer,
        dict(TANGO_SCHEDULER_CONFIG),
        "cross_attention",
        window=TANGO_WINDOW_FRAMES,
    ).freeze()


def windows(gen: LDMGenerator, n: int) -> list[Window]:
    """``n`` clips, each with its own prompt, seed and a T_ct burst at its own time."""
    out = []
    for i in range(n):
        active = np.zeros(gen.window, dtype=bool)
        start = (i * 97) % max(1, gen.window - gen.window // 8)
        active[start : start + gen.window // 8] = True
        out.append(Window(i, 0, 0, PROMPTS[i % len(PROMPTS)], active, seed=i))
    return out


def timed(
    gen: LDMGenerator, clips: list[Window], device: torch.device, repeats: int
) -> tuple[float, dict[str, float]]:
    """Median seconds per clip over ``repeats`` runs of ``clips`` (in ``gen.batch_size``
    batches), and the memory of those runs (GiB; empty on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for first in range(0, len(clips), gen.batch_size):
            gen(clips[first : first + gen.batch_size])
        if device.type == "cuda":
            torch.cuda.synchronize()
        runs.append((time.perf_counter() - start) / len(clips))
    return statistics.median(runs), memory_report(device)


def warm(gen: LDMGenerator, clips: list[Window]) -> None:
    """One short run per configuration: kernels, allocator and cuDNN autotuning out of the way."""
    steps, gen.steps = gen.steps, 2
    gen(clips[: gen.batch_size])
    gen.steps = steps


def _mem(memory: dict[str, float]) -> str:
    if not memory:
        return "memory n/a (cpu)"
    return (
        f"peak allocated {memory['allocated']:.2f} GiB, reserved {memory['reserved']:.2f} GiB, "
        f"device in use {memory['device_in_use']:.2f} GiB (CUDA context included)"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true", help="tiny models: a smoke test, not a number")
    p.add_argument("--clips", type=int, default=32, help="clips for our batched setup")
    p.add_argument("--batch", type=int, default=32, help="clips per batch in our setup")
    p.add_argument("--paper-clips", type=int, default=1, help="clips timed for the paper setup")
    p.add_argument("--paper-steps", type=int, default=200, help="the paper's DDPM steps")
    p.add_argument("--steps", type=int, default=25, help="our DPM-Solver++ steps")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per setup (median)")
    p.add_argument("--no-tf32", action="store_true", help="fp32 matmuls in full fp32")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here; use --device cpu --tiny for a smoke test", file=sys.stderr)
        return 2
    fast = torch.float16 if device.type == "cuda" else torch.float32  # CPU: no fp16 kernels
    clips_n, batch = (4, 4) if args.tiny else (args.clips, args.batch)
    if args.tiny:  # a smoke test: per-step overhead dominates tiny models; keep it seconds
        torch.set_num_threads(1)  # tiny ops on a shared CPU: threads only wait on each other
        args.paper_steps, args.steps = args.paper_steps // 10, max(1, args.steps // 10)
        print(f"tiny: steps cut 10x to {args.paper_steps} / {args.steps}; not a benchmark")
    fast_name = str(fast).removeprefix("torch.")
    torch.backends.cuda.matmul.allow_tf32 = not args.no_tf32
    torch.backends.cudnn.allow_tf32 = not args.no_tf32
    tf32 = "TF32 matmuls and convolutions" if not args.no_tf32 else "no TF32"

    t = time.perf_counter()
    components = tiny_components("tango").to(device) if args.tiny else real_components(device)
    adapter = TimeControlAdapter.from_unet(components.unet).eval().requires_grad_(False)
    window_s = components.window_frames / float(components.mel.frame_rate)
    size = list(components.unet.config.sample_size)
    source = (
        f"Tango's fixed window; its config's sample_size {size} is not used"
        if components.window
        else f"sample_size {size} x the VAE's factor: the tiny stand-in's own"
    )
    n_unet = sum(p.numel() for p in components.unet.parameters()) / 1e6
    n_adapter = sum(p.numel() for p in adapter.parameters()) / 1e6
    print(
        f"{'tiny' if args.tiny else 'real-size'} random weights on {device}: UNet {n_unet:.1f} M, "
        f"adapter {n_adapter:.1f} M, window {components.window_frames} mel frames = "
        f"{window_s:.2f} s ({source}), built in {time.perf_counter() - t:.1f} s; "
        f"medians of {args.repeats} runs"
    )
    if not args.tiny:
        print("text: byte-level stand-in tokenizer with FLAN-T5's special ids (~4x more tokens)")

    # the paper: DDPM 200 steps, one clip at a time, float32, with the adapter
    paper = LDMGenerator(
        components,
        adapter,
        scheduler="ddpm",
        steps=args.paper_steps,
        dtype="fp32",
        device=device,
        batch_size=1,
    )
    clips = windows(paper, max(clips_n, args.paper_clips))
    warm(paper, clips)
    paper_s, paper_peak = timed(paper, clips[: args.paper_clips], device, args.repeats)
    print(
        f"paper: DDPM {paper.steps} steps, 1 clip at a time, fp32 ({tf32}): {paper_s:.3f} s "
        f"per clip ({window_s / paper_s:.1f}x real time), {_mem(paper_peak)}"
    )

    # ours: DPM-Solver++ 25 steps, batched, fp16
    ours = LDMGenerator(
        components,
        adapter,
        scheduler="dpm",
        steps=args.steps,
        dtype=fast,
        device=device,
        batch_size=batch,
    )
    warm(ours, clips)
    ours_s, ours_peak = timed(ours, clips[:clips_n], device, args.repeats)
    print(
        f"ours: DPM-Solver++ {ours.steps} steps, {clips_n} clips in batches of {batch}, "
        f"{fast_name}: {ours_s:.3f} s per clip "
        f"({window_s / ours_s:.1f}x real time), {_mem(ours_peak)}"
    )
    print(f"ratio {paper_s / ours_s:.1f}x (paper / ours; target >= 40x)")

    # low-VRAM: one model on the GPU at a time, fp16, small batches, VAE slicing
    low = LDMGenerator(
        components,
        adapter,
        scheduler="dpm",
        steps=args.steps,
        dtype=fast,
        device=device,
        batch_size=min(4, batch),
        offload=True,
        vae_slicing=True,
    )
    warm(low, clips)
    low_s, low_peak = timed(low, clips[: min(clips_n, 8)], device, args.repeats)
    verdict = ""
    if low_peak:
        in_use_gb = low_peak["device_in_use"] * 2**30 / 1e9
        verdict = f" = {in_use_gb:.2f} GB in use ({'<=' if in_use_gb <= 8 else 'OVER'} 8 GB)"
    print(
        f"low-VRAM: model CPU offload + {fast_name} + VAE slicing, batch {low.batch_size}: "
        f"{low_s:.3f} s per clip, {_mem(low_peak)}{verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
