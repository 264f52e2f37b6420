"""A tiny, reproducible table 5: the time adapter's effect on timing, with the project's code.

1. Data: synthetic single-sound clips (one burst of one of four timbres per clip, at a random
   time), written as WAVs with a manifest, as ``sonicvision train adapter`` reads them.
2. A tiny VAE (on the clips' mels) and a tiny Tango-style base LDM (text -> latent, the
   project's ``diffusion_loss`` with the adapter's residuals off) are trained first.
3. The adapter is trained with the project's own ``train_adapter`` (frozen base).
4. Unseen (caption, T_ct) pairs are rendered with the project's ``LDMGenerator`` and scored
   with the project's metrics (IoU and time accuracy at 25 fps, onset accuracy/AP within
   100 ms, median onset error): ground truth through the same path (ceiling), the base
   without adapter, the adapter at conditioning scales 0, 1 and 2, and chance (another
   clip's T_ct).

The tiny stack's HiFi-GAN is untrained noise, so the measuring path vocodes the decoded mel
with Griffin-Lim instead (a vocoder with no weights: what is scored is the mel the LDM made).
Seeded throughout; CPU by default, a GPU when one is there (``--device``).

    python bench/adapter_effect.py            # ~30 min on 2 CPU cores
    python bench/adapter_effect.py --quick    # a few minutes, noisier
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import librosa
import numpy as np
import soundfile as sf
import torch

from sonicvision.server.generate.base import SoundRequest
from sonicvision.server.generate.ldm import LDMGenerator
from sonicvision.server.generate.library import resample
from sonicvision.server.metrics import activity_from_intervals, evaluate_track
from sonicvision.server.models.adapter import TimeControlAdapter
from sonicvision.server.models.time_condition import log_mel
from sonicvision.server.testing.ldm import MODEL_RATE, tiny_components
from sonicvision.server.train.adapter import (
    TrainOptions,
    diffusion_loss,
    load_clip,
    prepare_batch,
    read_manifest,
    train_adapter,
)

TIMBRES = {  # caption (words of the tiny tokenizer) -> how the burst sounds
    "door slams": "noise",
    "metal clang": "high",
    "dog barks": "low",
    "glass breaks": "chirp",
}
FPS = 25.0
SCORE_RATE = 16_000  # scored after resampling: onset detection needs more than 800 Hz of band


@dataclass(frozen=True)
class Sized:
    clips: int
    eval_pairs: int
    vae_steps: int
    base_steps: int
    adapter_steps: int
    steps: int  # sampler steps when rendering


FULL = Sized(
    clips=544, eval_pairs=64, vae_steps=1500, base_steps=3000, adapter_steps=1200, steps=25
)
QUICK = Sized(clips=160, eval_pairs=24, vae_steps=300, base_steps=600, adapter_steps=300, steps=10)


# ---- 1. data -------------------------------------------------------------------------------


def burst(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """One sound of a timbre, ``n`` samples at the tiny model's 1600 Hz, with a fast attack."""
    t = np.arange(n) / MODEL_RATE
    if kind == "noise":
        y = rng.standard_normal(n)
    elif kind == "high":
        y = np.sin(2 * np.pi * 600 * t) + 0.3 * np.sin(2 * np.pi * 700 * t)
    elif kind == "low":
        y = np.sin(2 * np.pi * 120 * t) + 0.5 * np.sin(2 * np.pi * 240 * t)
    else:
        y = np.sin(2 * np.pi * (200 + 2000 * t) * t)
    # 5 ms attack, a decay to -26 dB, a 10 ms fade: one onset, nothing that reads as a second
    fade = np.clip((t[-1] - t) / 0.01, 0.0, 1.0)
    envelope = np.minimum(1.0, t / 0.005) * np.exp(-t / max(t[-1], 1e-3) * 3.0) * fade
    return y * envelope


def make_clips(folder: Path, count: int, window_s: float, seed: int) -> list[dict]:
    """``count`` clips of ``window_s``: silence with one burst; ``manifest.json`` beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = round(window_s * MODEL_RATE)
    captions = list(TIMBRES)
    rows = []
    for i in range(count):
        caption = captions[i % len(captions)]
        length = float(rng.uniform(0.08, 0.25))
        start = float(rng.uniform(0.0, window_s - length))
        y = np.zeros(n)
        first, size = round(start * MODEL_RATE), round(length * MODEL_RATE)
        y[first : first + size] = burst(TIMBRES[caption], size, rng)[: n - first]
        sf.write(folder / f"clip{i:04d}.wav", (0.5 * y).astype(np.float32), MODEL_RATE)
        rows.append(
            {
                "audio": f"clip{i:04d}.wav",
                "caption": caption,
                "start": first / MODEL_RATE,
                "end": (first + size) / MODEL_RATE,
            }
        )
    (folder / "manifest.json").write_text(json.dumps(rows, indent=1))
    return rows


# ---- the measuring path: Griffin-Lim in place of the untrained HiFi-GAN ---------------------


class GriffinLimVocoder(torch.nn.Module):
    """Log mel (batch, frames, n_mels) -> waveform: Griffin-Lim on the project's mel front end."""

    def __init__(self, spec, iterations: int = 32) -> None:
        super().__init__()
        self.spec, self.iterations = spec, iterations
        self.config = types.SimpleNamespace(
            upsample_rates=[spec.hop], sampling_rate=spec.sample_rate, model_in_dim=spec.n_mels
        )
        self.register_buffer("anchor", torch.zeros(1))  # gives the module a device and dtype

    @property
    def device(self) -> torch.device:
        return self.anchor.device

    @property
    def dtype(self) -> torch.dtype:
        return self.anchor.dtype

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        spec = self.spec
        magnitude = np.exp(mel.detach().float().cpu().numpy()).transpose(0, 2, 1)
        waves = [
            librosa.feature.inverse.mel_to_audio(
                m,
                sr=spec.sample_rate,
                n_fft=spec.n_fft,
                hop_length=spec.hop,
                win_length=spec.n_fft,
                power=1.0,
                n_iter=self.iterations,
                fmin=spec.fmin,
            )
            for m in magnitude
        ]
        return torch.from_numpy(np.stack(waves)).to(mel.device)


# ---- 2. the tiny VAE and base --------------------------------------------------------------


def _waves(components, folder: Path) -> tuple[torch.Tensor, np.ndarray]:
    clips = read_manifest(folder)
    items = [load_clip(c, components.mel, components.window_frames) for c in clips]
    return torch.from_numpy(np.stack([w for w, _ in items])), np.stack([a for _, a in items])


def train_vae(components, waves: torch.Tensor, steps: int, seed: int, report) -> None:
    """Reconstruction + a light KL on the clips' log mels (the VAE is the project's module)."""
    vae = components.vae.train().requires_grad_(True)
    mels = log_mel(waves, components.mel, components.window_frames)[:, None]
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3)
    rng = torch.Generator().manual_seed(seed)
    for step in range(1, steps + 1):
        pick = torch.randint(0, len(mels), (16,), generator=rng)
        x = mels[pick].to(vae.device)
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=rng)
        loss = torch.nn.functional.mse_loss(vae.decode(z).sample, x) + 1e-4 * posterior.kl().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % max(1, steps // 5) == 0:
            report(f"  vae step {step}: loss {loss.item():.4f}")
    vae.eval().requires_grad_(False)


def train_base(components, waves, active, captions, steps: int, seed: int, report) -> None:
    """Text-to-audio with the project's diffusion loss; the adapter's residuals are off."""
    unet = components.unet.train().requires_grad_(True)
    off = TimeControlAdapter.from_unet(unet, conditioning_scale=0.0).requires_grad_(False)
    optimizer = torch.optim.Adam(unet.parameters(), lr=5e-4)
    rng = torch.Generator().manual_seed(seed)
    for step in range(1, steps + 1):
        pick = torch.randint(0, len(waves), (16,), generator=rng).tolist()
        text = ["" if torch.rand((), generator=rng) < 0.1 else captions[i] for i in pick]
        batch = prepare_batch(components, waves[pick], active[pick], text, rng)
        loss = diffusion_loss(components, off, batch, generator=rng)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % max(1, steps // 5) == 0:
            report(f"  base step {step}: loss {loss.item():.4f}")
    components.freeze()


# ---- 4. scoring ----------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    iou: list[float]
    time_acc: list[float]
    onset_acc: list[float]
    onset_ap: list[float]
    errors_ms: list[float]

    def line(self) -> str:
        def m(v: list[float]) -> str:
            return f"{np.mean(v):.2f}" if v else ""

        err = f"{np.median(self.errors_ms):.0f} ms" if self.errors_ms else ""
        acc, ap = m(self.onset_acc), m(self.onset_ap)
        return f"| {self.name} | {m(self.iou)} | {m(self.time_acc)} | {acc} | {ap} | {err} |"


def score(name: str, audios: list[np.ndarray], pairs: list[dict], window_s: float) -> Row:
    row = Row(name, [], [], [], [], [])
    for audio, pair in zip(audios, pairs, strict=True):
        y = resample(np.asarray(audio, dtype=np.float32)[:, None], MODEL_RATE, SCORE_RATE)[:, 0]
        report = evaluate_track(
            y, SCORE_RATE, [pair["start"]], [(pair["start"], pair["end"])], FPS, window_s
        )
        row.iou.append(report.iou)
        row.time_acc.append(report.time_acc)
        row.onset_acc.append(report.onset_acc)
        row.onset_ap.append(report.onset_ap)
        row.errors_ms += [abs(m.error_s) * 1000 for m in report.matches if m.error_s is not None]
    return row


def chance(pairs: list[dict], window_s: float) -> Row:
    """Another clip's T_ct against this one's: what timing agreement costs nothing."""
    row = Row("chance (another clip's T_ct)", [], [], [], [], [])
    for i, pair in enumerate(pairs):
        other = pairs[(i + 1) % len(pairs)]
        a = activity_from_intervals([(pair["start"], pair["end"])], window_s, FPS)
        b = activity_from_intervals([(other["start"], other["end"])], window_s, FPS)
        union = np.count_nonzero(a | b)
        row.iou.append(np.count_nonzero(a & b) / union if union else 1.0)
        row.time_acc.append(float(np.mean(a == b)))
    return row


def render(components, adapter, scale, pairs, window_s, steps, seed) -> list[np.ndarray]:
    generator = LDMGenerator(
        components,
        adapter,
        steps=steps,
        conditioning_scale=scale,
        device=components.unet.device,
        batch_size=16,
        window_s=window_s,
    )
    requests = [
        SoundRequest(
            p["caption"],
            window_s,
            True,
            seed + i,
            sample_rate=MODEL_RATE,
            activity=activity_from_intervals([(p["start"], p["end"])], window_s, FPS),
            activity_rate=FPS,
        )
        for i, p in enumerate(pairs)
    ]
    return [s.audio[:, 0] for s in generator.render_batch(requests)]


def ceiling(components, folder: Path) -> list[np.ndarray]:
    """Ground truth through the same path: mel -> VAE -> decoded mel -> Griffin-Lim."""
    waves, _ = _waves(components, folder)
    with torch.no_grad():
        mel = log_mel(waves, components.mel, components.window_frames)[:, None]
        decoded = components.vae.decode(components.vae.encode(mel).latent_dist.mean).sample
        return list(components.vocoder(decoded.squeeze(1)).numpy())


# ---- the run -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer clips and steps: minutes, noisier")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--lr", type=float, default=2e-4, help="adapter learning rate (paper: 3e-5)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (tiny ops: 1 is fastest)")
    args = p.parse_args(argv)
    size = QUICK if args.quick else FULL
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.perf_counter()

    def report(line: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {line}", flush=True)

    components = tiny_components("tango").to(args.device)
    components.vocoder = GriffinLimVocoder(components.mel).to(args.device)
    window_s = components.window_frames / float(components.mel.frame_rate)
    with TemporaryDirectory() as tmp:
        train_dir, eval_dir = Path(tmp) / "train", Path(tmp) / "eval"
        rows = make_clips(train_dir, size.clips, window_s, args.seed)
        pairs = make_clips(eval_dir, size.eval_pairs, window_s, args.seed + 1)
        report(f"{len(rows)} training clips, {len(pairs)} unseen pairs, {window_s:.2f} s each")
        waves, active = _waves(components, train_dir)
        train_vae(components, waves, size.vae_steps, args.seed, report)
        train_base(
            components, waves, active, [r["caption"] for r in rows], size.base_steps, args.seed,
            report,
        )  # fmt: skip
        out = Path(tmp) / "adapter"
        options = TrainOptions(
            base=Path(tmp),
            data=train_dir,
            out=out,
            max_steps=size.adapter_steps,
            batch_size=16,
            lr=args.lr,
            save_every=10**9,
            validate_every=max(1, size.adapter_steps // 3),
            val_count=8,
            val_steps=size.steps,
            seed=args.seed,
            device=args.device,
        )
        result = train_adapter(options, components, report=lambda s: report("  " + s))
        adapter = TimeControlAdapter.from_pretrained(out, local_files_only=True).eval()
        adapter.to(args.device)

        truth = ceiling(components, eval_dir)
        table = [score("ground truth through the same path (ceiling)", truth, pairs, window_s)]
        render_args = (pairs, window_s, size.steps, args.seed)
        plain = render(components, None, 0.0, *render_args)
        table.append(score("base LDM, no adapter", plain, pairs, window_s))
        for scale in (0.0, 1.0, 2.0):
            audios = render(components, adapter, scale, *render_args)
            table.append(score(f"adapter, conditioning scale {scale:g}", audios, pairs, window_s))
        table.append(chance(pairs, window_s))

    mode = "quick" if args.quick else "full"
    print()
    print(
        f"{mode} run, seed {args.seed}: {size.clips} clips, VAE {size.vae_steps} / base "
        f"{size.base_steps} / adapter {size.adapter_steps} steps (lr {args.lr:g}, batch 16), "
        f"{size.eval_pairs} unseen pairs, DPM-Solver++ {size.steps} steps, guidance 3, "
        f"{time.perf_counter() - started:.0f} s on {args.device}"
    )
    print(f"trainer's validation IoU: {', '.join(f'{s}: {v:.2f}' for s, v in result.val_iou)}")
    print(
        "| variant | IoU 25 fps | time acc | onset acc | onset AP +-100 ms | median onset error |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for row in table:
        print(row.line())
    return 0 if all(math.isfinite(np.mean(r.iou)) for r in table) else 1


if __name__ == "__main__":
    sys.exit(main())
