"""Train the time-controllable adapter on CondPromptBank-style data (paper sec. 3.5 and 4.1).

The base LDM stays frozen (``requires_grad`` off on UNet, VAE, vocoder and text encoder); only
the adapter learns, with the base's own diffusion loss (epsilon or v target, as its schedule
says), Adam at 3e-5 and batches of 32 by default. Each clip gives the latent of its audio,
the eq. 9 condition from its labelled (start, end) and its caption; 10 % of captions are
dropped to the empty prompt, because classifier-free guidance runs the adapter on it too.

Checkpoints are folders written atomically: the adapter's ``config.json`` and
``diffusion_pytorch_model.safetensors`` (loadable by ``ldm:...,adapter=CKPT``), plus
``optimizer.safetensors`` and ``training_state.json`` (step, epoch, Adam's settings), so
``--resume`` continues exactly. Validation renders held-out clips with their requested T_ct
and prints the IoU of the rendered activity against it (the paper's table 5 metric), with
the activity thresholded above each render's own noise floor (``validation_activity``).

Data folder: audio files plus ``manifest.json`` (a list of objects, or ``{"clips": [...]}``)
or ``manifest.csv`` (with a header), each clip with ``audio`` (path relative to the folder),
``caption``, ``start`` and ``end`` (seconds of the sound inside the file).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from safetensors.torch import load_file, save_file

from sonicvision.errors import ConfigError

from ..audio import resample
from ..generate.base import SoundRequest
from ..metrics import activity_from_audio, activity_from_intervals, activity_iou
from ..models.adapter import TimeControlAdapter, move
from ..models.device import torch_device
from ..models.loading import LDMComponents, load_ldm
from ..models.time_condition import (
    MelSpec,
    encode_time_condition,
    intervals_to_mel_frames,
    log_mel,
    normalise_mel,
    time_condition_mel,
)

logger = logging.getLogger(__name__)

STATE_FILE = "training_state.json"
OPTIMIZER_FILE = "optimizer.safetensors"
VAL_FRAME_RATE = 25.0  # IoU on video-like frames, as the paper scores it
EQ7_THRESHOLD_DB = -40.0  # eq. 7's x, relative to the clip's peak
MIN_DYNAMIC_RANGE_DB = 12.0  # floor to peak: less, and validation cannot see the activity
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3"}


@dataclass(frozen=True)
class Clip:
    """One CondPromptBank entry: a single sound effect, its caption, where the sound is."""

    audio: Path
    caption: str
    start: float
    end: float


@dataclass
class TrainOptions:
    """``sonicvision train adapter`` options; defaults are the paper's (sec. 4.1)."""

    base: Path
    data: Path
    out: Path
    variant: str | None = None
    epochs: int = 200
    max_steps: int | None = None
    batch_size: int = 32
    lr: float = 3e-5
    mixed_precision: str = "no"  # no | fp16 | bf16
    resume: bool = False
    save_every: int = 1000
    validate_every: int = 1000
    val_count: int = 8
    val_steps: int = 25
    caption_dropout: float = 0.1
    conditioning_scale: float = 2.0
    gradient_checkpointing: bool = False
    seed: int = 0
    device: str | None = None


@dataclass
class TrainResult:
    step: int
    losses: list[float] = field(default_factory=list)
    val_iou: list[tuple[int, float]] = field(default_factory=list)
    checkpoint: Path | None = None


@dataclass
class Batch:
    """A training batch on the latent grid: target latents, A_ct, captions."""

    latents: torch.Tensor
    time_condition: torch.Tensor
    captions: list[str]


# ---- data -------------------------------------------------------------------------------


def read_manifest(folder: Path) -> list[Clip]:
    """Clips from ``manifest.json`` or ``manifest.csv``; every problem names file and field."""
    folder = Path(folder).expanduser()
    json_path, csv_path = folder / "manifest.json", folder / "manifest.csv"
    if json_path.exists():
        try:
            data = json.loads(json_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read the manifest: {exc}", path=json_path) from exc
        rows, source = (data.get("clips") if isinstance(data, dict) else data), json_path
        if not isinstance(rows, list):
            raise ConfigError("manifest.json must hold a list of clips", path=json_path)
    elif csv_path.exists():
        with csv_path.open(newline="") as f:
            rows, source = list(csv.DictReader(f)), csv_path
    else:
        raise ConfigError(
            "no manifest.json or manifest.csv (audio, caption, start, end per clip)", path=folder
        )
    clips = []
    for n, row in enumerate(rows):
        where = f"clips[{n}]"
        if not isinstance(row, dict):
            raise ConfigError(f"{where} is not an object", path=source)
        name = row.get("audio") or row.get("file") or row.get("path")
        caption = str(row.get("caption") or row.get("text") or "").strip()
        if not name:
            raise ConfigError(f"{where} has no audio file", path=source, field=f"{where}.audio")
        if not caption:
            raise ConfigError(f"{where} has no caption", path=source, field=f"{where}.caption")
        try:
            start, end = float(row["start"]), float(row["end"])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(
                f"{where} needs numeric start and end seconds", path=source, field=f"{where}.start"
            ) from None
        if not (0 <= start <= end and math.isfinite(end)):
            raise ConfigError(
                f"{where}: start {start} and end {end} are not an interval",
                path=source,
                field=f"{where}.end",
            )
        audio = folder / str(name)
        if not audio.is_file():
            raise ConfigError(f"{where}: audio file not found", path=audio)
        clips.append(Clip(audio, caption, start, end))
    if not clips:
        raise ConfigError("the manifest lists no clips", path=source)
    return clips


def load_clip(clip: Clip, mel: MelSpec, window_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The clip's waveform fitted to the model window, and T_ct on the mel grid.

    Tango's preprocessing: mono, model rate, mean removed, peak at 0.5, cropped or padded.
    """
    try:
        data, rate = sf.read(str(clip.audio), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError) as exc:
        raise ConfigError(f"cannot read training audio: {exc}", path=clip.audio) from exc
    wave = resample(data.mean(axis=1), int(rate), mel.sample_rate)
    wave = wave - wave.mean() if wave.size else wave
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    wave = wave / (peak + 1e-8) * 0.5
    n = window_frames * mel.hop
    wave = np.pad(wave[:n], (0, max(0, n - wave.size))).astype(np.float32)
    active = intervals_to_mel_frames([(clip.start, clip.end)], mel.frame_rate, window_frames)
    return wave, active


@torch.no_grad()
def prepare_batch(
    components: LDMComponents,
    waves: torch.Tensor,
    active: np.ndarray,
    captions: list[str],
    generator: torch.Generator | None = None,
) -> Batch:
    """z0 = E(mel(a)) and A_ct = E_a(a_c), with a_c filled with the normalised mel's maximum."""
    vae, spec = components.vae, components.mel
    frames = active.shape[1]
    mel = log_mel(waves.to(vae.device), spec, frames)  # (B, frames, n_mels)
    peak = normalise_mel(mel).flatten(1).amax(dim=1)  # eq. 9: "the maximum values"
    posterior = vae.encode(mel[:, None].to(vae.dtype)).latent_dist
    noise = torch.randn(posterior.mean.shape, generator=generator).to(posterior.mean)
    latents = (posterior.mean + posterior.std * noise) * vae.config.scaling_factor
    a_c = time_condition_mel(active, spec.n_mels, peak.cpu())
    return Batch(latents, encode_time_condition(vae, a_c), captions)


def diffusion_loss(
    components: LDMComponents,
    adapter: TimeControlAdapter,
    batch: Batch,
    *,
    noise: torch.Tensor | None = None,
    timesteps: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The base's own objective through frozen UNet + adapter; gradients reach the adapter only."""
    schedule = DDPMScheduler.from_config(components.scheduler_config)
    device = components.unet.device
    latents = batch.latents.to(device)
    if noise is None:
        noise = torch.randn(latents.shape, generator=generator).to(latents)
    if timesteps is None:
        timesteps = torch.randint(
            0, schedule.config.num_train_timesteps, (latents.shape[0],), generator=generator
        )
    timesteps = timesteps.to(device)
    noisy = schedule.add_noise(latents, noise, timesteps)
    if schedule.config.prediction_type == "v_prediction":
        target = schedule.get_velocity(latents, noise, timesteps)
    else:
        target = noise
    embeds, mask = components.encode_text(batch.captions)
    text = components.text_kwargs(embeds.to(device), mask.to(device) if mask is not None else None)
    down, mid = adapter(
        noisy,
        timesteps,
        text["encoder_hidden_states"],
        batch.time_condition.to(device),
        encoder_attention_mask=text.get("encoder_attention_mask"),
        class_labels=text.get("class_labels"),
        return_dict=False,
    )
    pred = components.unet(
        noisy,
        timesteps,
        **text,
        down_block_additional_residuals=down,
        mid_block_additional_residual=mid,
    ).sample
    return F.mse_loss(pred.float(), target.float())


# ---- checkpoints ------------------------------------------------------------------------


def save_checkpoint(
    out: Path, adapter: TimeControlAdapter, optimizer: torch.optim.Optimizer, state: dict
) -> None:
    """Adapter + optimizer + step, written beside ``out`` and swapped in (never half-written)."""
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    adapter.save_pretrained(partial, safe_serialization=True)
    opt = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, values in opt["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{key}"] = value
    save_file(tensors, partial / OPTIMIZER_FILE)
    meta = dict(state, optimizer_groups=opt["param_groups"], optimizer_scalars=scalars)
    (partial / STATE_FILE).write_text(json.dumps(meta, indent=2))
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(partial, out)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(out: Path, optimizer: torch.optim.Optimizer) -> dict:
    """Restore Adam's moments and settings; returns the training state (step, epoch, ...)."""
    meta = json.loads((out / STATE_FILE).read_text())
    tensors = load_file(out / OPTIMIZER_FILE)
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    for name, value in meta.pop("optimizer_scalars").items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta.pop("optimizer_groups")})
    return meta


# ---- validation -------------------------------------------------------------------------


def validate(
    components: LDMComponents,
    adapter: TimeControlAdapter,
    clips: list[Clip],
    steps: int,
    seed: int = 0,
) -> float:
    """Mean IoU of the rendered activity against the requested T_ct (video-like frames)."""
    from ..generate.ldm import LDMGenerator

    window_s = components.window_frames / float(components.mel.frame_rate)
    sr = components.mel.sample_rate
    requests = [
        SoundRequest(
            text=clip.caption,
            duration_s=window_s,
            continuous=True,
            seed=seed + i,
            sample_rate=sr,
            activity=activity_from_intervals([(clip.start, clip.end)], window_s, VAL_FRAME_RATE),
            activity_rate=VAL_FRAME_RATE,
        )
        for i, clip in enumerate(clips)
    ]
    was_training = adapter.training
    adapter.eval()
    try:
        generator = LDMGenerator(
            components,
            adapter,
            steps=steps,
            device=components.unet.device,
            dtype=components.unet.dtype,
            batch_size=len(requests),
            window_s=window_s,
        )
        sounds = generator.render_batch(requests)
    finally:
        adapter.train(was_training)
    scores, blind = [], 0
    for sound, request in zip(sounds, requests, strict=True):
        found, separable = validation_activity(sound.audio, sound.sample_rate, window_s)
        blind += not separable
        scores.append(activity_iou(found, request.activity))
    if blind:
        logger.warning(
            "validation: %d of %d renders have under %.0f dB between their noise floor and "
            "their peak; their activity cannot separate sound from silence",
            blind,
            len(sounds),
            MIN_DYNAMIC_RANGE_DB,
        )
    return float(np.mean(scores))


def validation_activity(
    audio: np.ndarray, sample_rate: int, duration_s: float, frame_rate: float = VAL_FRAME_RATE
) -> tuple[np.ndarray, bool]:
    """V_ct of a rendered clip, thresholded above its own noise floor; and whether it can tell.

    Eq. 7's -40 dB re peak assumes silence is silent. Through a small or young vocoder the
    "silence" between sounds is a noise floor that can sit 20 dB under the peak, and every
    frame then reads as sounding (IoU = the target's share of the clip, whatever the adapter
    does). The threshold is the higher of eq. 7's and halfway (in dB) from the floor (10th
    percentile of 1 ms levels) to the peak; under ``MIN_DYNAMIC_RANGE_DB`` between the two the
    clip is reported as not separable.
    """
    floor, peak = level_range_db(audio, sample_rate)
    threshold = max(EQ7_THRESHOLD_DB, (floor - peak) / 2)
    found = activity_from_audio(
        audio, sample_rate, frame_rate, threshold_db=threshold, duration_s=duration_s
    )
    return found, peak - floor >= MIN_DYNAMIC_RANGE_DB


def level_range_db(
    audio: np.ndarray, sample_rate: int, hop_s: float = 0.001
) -> tuple[float, float]:
    """(noise floor, peak) in dB of 1 ms RMS windows; the floor is their 10th percentile."""
    y = np.asarray(audio, dtype=np.float64)
    y = y.mean(axis=1) if y.ndim == 2 else y
    hop = max(1, round(hop_s * sample_rate))
    n = y.size // hop
    if n == 0:
        return -math.inf, -math.inf
    rms = np.sqrt(np.mean(y[: n * hop].reshape(n, hop) ** 2, axis=1))
    level = 20 * np.log10(np.maximum(rms, 1e-12))
    return float(np.percentile(level, 10)), float(level.max())


# ---- the loop ---------------------------------------------------------------------------


def _autocast(device: torch.device, mode: str):
    if mode == "no":
        return torch.autocast(device.type, enabled=False)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(mode)
    if dtype is None:
        raise ConfigError(
            f"unknown mixed precision {mode!r}; choose no, fp16 or bf16", field="mixed_precision"
        )
    if dtype == torch.float16 and device.type != "cuda":
        raise ConfigError("fp16 mixed precision needs a GPU; use bf16", field="mixed_precision")
    return torch.autocast(device.type, dtype=dtype)


def train_adapter(
    options: TrainOptions,
    components: LDMComponents | None = None,
    report: Callable[[str], None] = print,
) -> TrainResult:
    """Train (or resume) the adapter; prints loss and validation IoU as it goes."""
    out = Path(options.out).expanduser()
    if out.exists() and not options.resume:
        raise ConfigError(
            "the checkpoint folder exists; pass --resume to continue it, or choose another --out",
            path=out,
        )
    if options.resume and not (out / STATE_FILE).exists():
        raise ConfigError("nothing to resume: no training_state.json", path=out)
    if options.batch_size < 1 or options.lr <= 0:
        raise ConfigError("batch size and learning rate must be positive", field="batch_size")
    device = torch_device(options.device)
    _autocast(device, options.mixed_precision)  # refuse a bad mode before any work

    # 1. Data: clips, with a held-out set for validation
    clips = read_manifest(options.data)
    val = clips[-options.val_count :] if 0 < options.val_count < len(clips) else []
    train = clips[: len(clips) - len(val)]

    # 2. The frozen base and the adapter (a copy of its encoder, or the checkpoint's)
    if components is None:
        components = load_ldm(options.base, options.variant)
    components.freeze().to(device)
    if options.resume:
        adapter = TimeControlAdapter.from_pretrained(out, local_files_only=True)
        if not adapter.matches(components.unet):
            raise ConfigError("this checkpoint is for a different base UNet", path=out)
    else:
        adapter = TimeControlAdapter.from_unet(
            components.unet, conditioning_scale=options.conditioning_scale
        )
    move(adapter, device, torch.float32).train().requires_grad_(True)
    if options.gradient_checkpointing:
        adapter.enable_gradient_checkpointing()
    optimizer = torch.optim.Adam(adapter.parameters(), lr=options.lr)
    state = {"step": 0, "epoch": 0, "batch_in_epoch": 0, "seed": options.seed}
    if options.resume:
        state |= load_checkpoint(out, optimizer)
        for group in optimizer.param_groups:
            group["lr"] = options.lr
        report(f"resumed at step {state['step']} (epoch {state['epoch']})")

    scaler = torch.amp.GradScaler(device.type, enabled=options.mixed_precision == "fp16")
    window = components.window_frames
    result = TrainResult(step=int(state["step"]))
    rng = torch.Generator().manual_seed(options.seed + result.step)
    mode = options.mixed_precision
    report(
        f"training the time adapter on {len(train)} clips ({len(val)} held out for the IoU), "
        f"batch {options.batch_size}, lr {options.lr:g}, "
        + ("fp32" if mode == "no" else f"{mode} mixed precision")
    )
    if not val:
        report("validation skipped: too few clips to hold any out (see --val-count)")

    def checkpoint() -> None:
        state["step"] = result.step
        save_checkpoint(out, adapter, optimizer, state)
        result.checkpoint = out

    def validation() -> None:
        if val:
            iou = validate(components, adapter, val, options.val_steps, options.seed)
            result.val_iou.append((result.step, iou))
            report(f"step {result.step}: validation IoU {iou:.3f} over {len(val)} clips")

    # 3. Epochs of shuffled batches; the base never trains
    def finished() -> bool:
        return options.max_steps is not None and result.step >= options.max_steps

    epoch, size = int(state["epoch"]), options.batch_size
    while epoch < options.epochs and not finished():
        shuffle = torch.Generator().manual_seed(options.seed + epoch)
        order = torch.randperm(len(train), generator=shuffle).tolist()
        batches = [order[i : i + size] for i in range(0, len(order), size)]
        for b in range(int(state["batch_in_epoch"]), len(batches)):
            if finished():
                break
            items = [load_clip(train[i], components.mel, window) for i in batches[b]]
            captions = [
                "" if torch.rand((), generator=rng) < options.caption_dropout else train[i].caption
                for i in batches[b]
            ]
            waves = torch.from_numpy(np.stack([w for w, _ in items]))
            batch = prepare_batch(components, waves, np.stack([a for _, a in items]), captions, rng)
            with _autocast(device, options.mixed_precision):
                loss = diffusion_loss(components, adapter, batch, generator=rng)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            result.step += 1
            result.losses.append(loss.item())
            state["epoch"], state["batch_in_epoch"] = epoch, b + 1
            if result.step % 10 == 0 or result.step == 1:
                report(f"step {result.step} (epoch {epoch}): loss {loss.item():.4f}")
            if result.step % options.save_every == 0:
                checkpoint()
            if result.step % options.validate_every == 0:
                validation()
        else:
            epoch += 1
            state["epoch"], state["batch_in_epoch"] = epoch, 0

    # 4. Final checkpoint and validation (unless this step was just validated)
    checkpoint()
    if not (result.val_iou and result.val_iou[-1][0] == result.step):
        validation()
    report(f"saved the adapter at step {result.step} to {out}")
    return result
