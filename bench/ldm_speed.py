"""Speed of the time-controlled generator: the paper's sampling against ours, same process.

Random weights at the real sizes: Tango's UNet (320/640/1280/1280, cross-attention 1024,
latent (8, 256, 16) = 10.24 s), the adapter copied from it, FLAN-T5-large, AudioLDM's VAE and
HiFi-GAN. Printed, as GPU seconds per 10.24 s clip (text encoding, time condition, denoising,
VAE, vocoder):

- paper: DDPM 200 steps, one clip at a time, float32, with the adapter (CFG batch 2);
- ours: DPM-Solver++ 25 steps, ``--clips`` clips in batches of ``--batch``, fp16;
- their ratio (target >= 40x) and each one's peak GPU memory;
- low-VRAM: fp16, model CPU offload (one model on the GPU at a time), VAE slicing, batch 4;
  peak memory (target < 8 GB).

    python bench/ldm_speed.py [--device cuda] [--clips 32] [--batch 32]
    python bench/ldm_speed.py --device cpu --tiny      # smoke test with tiny models (seconds)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig, T5Config, T5EncoderModel

from sonicvision.server.generate.ldm import LDMGenerator, Window  # noqa: E402
from sonicvision.server.models.adapter import TimeControlAdapter, materialize_  # noqa: E402
from sonicvision.server.models.loading import (  # noqa: E402
    TANGO_SCHEDULER_CONFIG,
    LDMComponents,
)
from sonicvision.server.testing.ldm import tiny_components, word_tokenizer  # noqa: E402

# Tango's configs/diffusion_model_config.json (SD 2.1's UNet with 8 latent channels)
TANGO_UNET = dict(
    act_fn="silu",
    attention_head_dim=[5, 10, 20, 20],
    block_out_channels=[320, 640, 1280, 1280],
    center_input_sample=False,
    cross_attention_dim=1024,
    down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
    downsample_padding=1,
    flip_sin_to_cos=True,
    freq_shift=0,
    in_channels=8,
    layers_per_block=2,
    mid_block_scale_factor=1,
    norm_eps=1e-05,
    norm_num_groups=32,
    only_cross_attention=False,
    out_channels=8,
    sample_size=[256, 16],
    up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
    use_linear_projection=True,
    upcast_attention=True,
)
# cvssp/audioldm-s-full-v2 vae/ and vocoder/ (Tango uses AudioLDM's, frozen)
AUDIOLDM_VAE = dict(
    in_channels=1,
    out_channels=1,
    down_block_types=["DownEncoderBlock2D"] * 3,
    up_block_types=["UpDecoderBlock2D"] * 3,
    block_out_channels=[128, 256, 512],
    layers_per_block=2,
    latent_channels=8,
    norm_num_groups=32,
    sample_size=512,
    scaling_factor=0.9227914,
)
AUDIOLDM_VOCODER = dict(
    model_in_dim=64,
    sampling_rate=16000,
    upsample_initial_channel=1024,
    upsample_rates=[5, 4, 2, 2, 2],
    upsample_kernel_sizes=[16, 16, 8, 4, 4],
    resblock_kernel_sizes=[3, 7, 11],
    resblock_dilation_sizes=[[1, 3, 5]] * 3,
    normalize_before=False,
)
FLAN_T5_LARGE = dict(
    vocab_size=32128,
    d_model=1024,
    d_kv=64,
    d_ff=2816,
    num_layers=24,
    num_heads=16,
    feed_forward_proj="gated-gelu",
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
)
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
    torch.manual_seed(0)
    with torch.device("meta"):
        unet = UNet2DConditionModel(**TANGO_UNET)
        text_encoder = T5EncoderModel(T5Config(**FLAN_T5_LARGE))
    _random_on(unet, device)
    _random_on(text_encoder, device)
    vae = AutoencoderKL(**AUDIOLDM_VAE).to(device)
    vocoder = SpeechT5HifiGan(SpeechT5HifiGanConfig(**AUDIOLDM_VOCODER)).to(device)
    tokenizer = word_tokenizer("t5")
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


def timed(gen: LDMGenerator, clips: list[Window], device: torch.device) -> tuple[float, float]:
    """Seconds per clip over ``clips`` (in ``gen.batch_size`` batches), and peak GiB."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for first in range(0, len(clips), gen.batch_size):
        gen(clips[first : first + gen.batch_size])
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / len(clips)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return seconds, peak


def warm(gen: LDMGenerator, clips: list[Window]) -> None:
    """One short run per configuration: kernels, allocator and cuDNN autotuning out of the way."""
    steps, gen.steps = gen.steps, 2
    gen(clips[: gen.batch_size])
    gen.steps = steps


def _mem(gib: float) -> str:
    return "n/a (cpu)" if gib != gib else f"{gib:.2f} GiB"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true", help="tiny models: a smoke test, not a number")
    p.add_argument("--clips", type=int, default=32, help="clips for our batched setup")
    p.add_argument("--batch", type=int, default=32, help="clips per batch in our setup")
    p.add_argument("--paper-clips", type=int, default=1, help="clips timed for the paper setup")
    p.add_argument("--paper-steps", type=int, default=200, help="the paper's DDPM steps")
    p.add_argument("--steps", type=int, default=25, help="our DPM-Solver++ steps")
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

    t = time.perf_counter()
    components = tiny_components("tango").to(device) if args.tiny else real_components(device)
    adapter = TimeControlAdapter.from_unet(components.unet).eval().requires_grad_(False)
    window_s = components.window_frames / float(components.mel.frame_rate)
    n_unet = sum(p.numel() for p in components.unet.parameters()) / 1e6
    n_adapter = sum(p.numel() for p in adapter.parameters()) / 1e6
    print(
        f"{'tiny' if args.tiny else 'real-size'} random weights on {device}: UNet {n_unet:.1f} M, "
        f"adapter {n_adapter:.1f} M, window {window_s:.2f} s, built in "
        f"{time.perf_counter() - t:.1f} s"
    )

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
    paper_s, paper_peak = timed(paper, clips[: args.paper_clips], device)
    print(
        f"paper: DDPM {paper.steps} steps, 1 clip at a time, fp32: {paper_s:.3f} s per clip "
        f"({window_s / paper_s:.1f}x real time), peak {_mem(paper_peak)}"
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
    ours_s, ours_peak = timed(ours, clips[:clips_n], device)
    print(
        f"ours: DPM-Solver++ {ours.steps} steps, {clips_n} clips in batches of {batch}, "
        f"{fast_name}: {ours_s:.3f} s per clip "
        f"({window_s / ours_s:.1f}x real time), peak {_mem(ours_peak)}"
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
    low_s, low_peak = timed(low, clips[: min(clips_n, 8)], device)
    verdict = "" if low_peak != low_peak else (" (< 8 GB)" if low_peak < 8 else " (OVER 8 GB)")
    print(
        f"low-VRAM: model CPU offload + {fast_name} + VAE slicing, batch {low.batch_size}: "
        f"{low_s:.3f} s per clip, peak {_mem(low_peak)}{verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
