"""Training the timestamp detector (paper sec. 3.4 and 4.1) on videos with their real audio.

Data is a folder of videos, each with a same-stem ``.wav`` beside it or an audio stream
inside. Labels come from the audio as the paper's eq. 7-8 (:mod:`sonicvision.server.metrics`):
window energy over threshold x, events closer than 0.02 s merged, snapped to video frames.
The loss is BCE where each sound event weighs its share of the video's total sound duration
(spread over its frames) and silence weighs as much as all the sound together; this equals
balancing sounding and silent frames, so rare short impacts are not drowned by silence.
Adam at 1e-5 with batches of 24 windows are the paper's settings.

Frames are decoded once into a cache at the net's input size (memory-mapped ``.npy``), so an
epoch reads no video. A checkpoint folder holds ``config.json`` + ``model.safetensors`` (what
``--detector r2plus1d:CKPT`` loads), ``optimizer.safetensors`` and ``trainer_state.json``
(epoch, step, history): ``resume`` continues from it; an interrupted epoch restarts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from sonicvision import files
from sonicvision.adapters.media import VIDEO_SUFFIXES
from sonicvision.errors import ConfigError, MediaError, SonicVisionError

from ..detect.r2plus1d import runs
from ..frames import iter_frames, probe
from ..metrics import (
    activity_from_intervals,
    activity_iou,
    onset_ap,
    sound_intervals,
    time_accuracy,
)
from ..models.device import torch_device
from ..models.r2plus1d import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    DetectorConfig,
    FrameDetector,
    build_model,
    frame_logits,
    read_config,
    save_checkpoint,
    sigmoid,
    to_input,
    write_json,
)

logger = logging.getLogger(__name__)

STATE_NAME = "trainer_state.json"
OPTIMIZER_NAME = "optimizer.safetensors"


@dataclass(frozen=True)
class LabelOptions:
    """Eq. 7's P(a): threshold x in dB (re the loudest 1 ms window, or full scale), merge gap."""

    threshold_db: float = -40.0
    reference: Literal["peak", "full_scale"] = "peak"
    merge_gap_s: float = 0.02


@dataclass(frozen=True)
class TrainConfig:
    """The run's settings; defaults are the paper's (70 epochs, batch 24, Adam 1e-5)."""

    epochs: int = 70
    batch_size: int = 24
    lr: float = 1e-5
    val_fraction: float = 0.1
    seed: int = 0
    pretrained: str = "auto"  # "auto" (Kinetics when on disk), "none", or a .pth path
    max_steps: int | None = None  # stop early (smoke runs, tests)
    flip: bool = True  # random horizontal flips: a contact is a contact either way round
    labels: LabelOptions = field(default_factory=LabelOptions)


@dataclass
class Clip:
    """One video ready for training: frames at the net's size, labels (eq. 8), events (eq. 7)."""

    name: str
    frames: np.ndarray  # (T, S, S, 3) uint8 BGR, often memory-mapped
    rate: float
    labels: np.ndarray  # (T,) bool
    events: list[tuple[float, float]]  # seconds


@dataclass
class EvalReport:
    """Validation numbers: weighted BCE, frame AP, the paper's onset AP, accuracy and IoU."""

    loss: float
    frame_ap: float
    onset_ap: float
    accuracy: float
    iou: float
    frames: int


@dataclass
class EpochReport:
    epoch: int
    epochs: int
    step: int
    train_loss: float
    val: EvalReport
    val_is_train: bool

    def to_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "epochs": self.epochs,
            "step": self.step,
            "train_loss": self.train_loss,
            "val_is_train": self.val_is_train,
            **{f"val_{k}": v for k, v in asdict(self.val).items()},
        }


# --- labels (eq. 7-8) and the paper's weights ----------------------------------------------


def labels_from_audio(
    audio: np.ndarray, sample_rate: int, rate: float, n_frames: int, options: LabelOptions
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """V_ct for ``n_frames`` video frames and the eq. 7 intervals it came from (seconds)."""
    events = sound_intervals(
        audio,
        sample_rate,
        options.threshold_db,
        reference=options.reference,
        merge_gap_s=options.merge_gap_s,
    )
    return activity_from_intervals(events, n_frames / rate, rate), events


def event_weights(
    events: Sequence[tuple[float, float]], labels: np.ndarray, rate: float, start: int, stop: int
) -> np.ndarray:
    """Per-frame BCE weights of frames ``[start, stop)``.

    Each event (clipped to the window) weighs d_e / D, its share of the window's total sound
    duration, spread evenly over its frames; silent frames share a weight of 1.
    """
    n = stop - start
    weights = np.zeros(n, np.float64)
    t0, t1 = start / rate, stop / rate
    spans = [(max(s, t0), min(e, t1)) for s, e in events]
    spans = [(s, e) for s, e in spans if e > s]
    total = sum(e - s for s, e in spans)
    for s, e in spans:
        frames = activity_from_intervals([(s, e)], t1, rate)[start:stop]
        if frames.any():
            weights[frames] += (e - s) / total / frames.sum()
    silent = ~labels[start:stop]
    if silent.any():
        weights[silent] = 1.0 / silent.sum()
    return weights.astype(np.float32)


def weighted_bce(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean over clips of sum(w * BCE) / sum(w): the paper's event-weighted BCE."""
    per_frame = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    return ((per_frame * weights).sum(1) / weights.sum(1).clamp_min(1e-8)).mean()


def frame_ap(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision of per-frame scores (ties ranked together); NaN without positives."""
    scores = np.asarray(scores, np.float64).ravel()
    labels = np.asarray(labels, bool).ravel()
    if not labels.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], labels[order]
    tp, fp = np.cumsum(hits), np.cumsum(~hits)
    last = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    tp, fp = tp[last], fp[last]
    recall = tp / tp[-1]
    precision = tp / (tp + fp)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


# --- data -----------------------------------------------------------------------------------


def find_videos(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ConfigError("Training data folder not found.", path=folder)
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())


def read_audio(video: Path) -> tuple[np.ndarray, int]:
    """The video's sound, mono float: ``STEM.wav`` beside it, else its first audio stream."""
    wav = video.with_suffix(".wav")
    if wav.is_file():
        data, sample_rate = sf.read(str(wav), dtype="float32", always_2d=True)
        return data.mean(axis=1), int(sample_rate)
    try:
        with av.open(str(video)) as container:
            if not container.streams.audio:
                raise MediaError(
                    "The video has no audio stream and no same-name .wav beside it.", path=video
                )
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=stream.rate)
            chunks = []
            for frame in container.decode(stream):
                chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
            sample_rate = int(stream.rate)
    except av.error.FFmpegError as exc:
        raise MediaError(f"Cannot read the audio: {exc}.", path=video) from exc
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return audio.astype(np.float32), sample_rate


def _decode(video: Path, n_frames: int, size: int, into: np.ndarray) -> None:
    for i, frame in enumerate(iter_frames(video, 0, n_frames, width=2 * size)):
        into[i] = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)


def read_clip_frames(video: Path, size: int, cache: Path | None) -> tuple[np.ndarray, float]:
    """All frames at ``size`` squared; with ``cache``, decoded once into a memory-mapped .npy."""
    info = probe(video)
    if info.is_still:
        raise MediaError("A still image has no motion to learn from.", path=video)
    shape = (info.frame_count, size, size, 3)
    if cache is None:
        frames = np.empty(shape, np.uint8)
        _decode(video, info.frame_count, size, frames)
        return frames, info.rate
    stat = video.stat()
    key = f"{video.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{size}"
    path = cache / f"{video.stem}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.npy"
    if not path.is_file():
        with files.replacing(path, ".partial.npy") as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            _decode(video, info.frame_count, size, out)
            out.flush()
            del out
    return np.load(path, mmap_mode="r"), info.rate


def load_clip(video: Path, size: int, labels: LabelOptions, cache: Path | None = None) -> Clip:
    frames, rate = read_clip_frames(video, size, cache)
    audio, sample_rate = read_audio(video)
    activity, events = labels_from_audio(audio, sample_rate, rate, len(frames), labels)
    return Clip(video.name, frames, rate, activity, events)


def load_clips(
    videos: Sequence[Path], size: int, labels: LabelOptions, cache: Path | None = None
) -> tuple[list[Clip], list[str]]:
    """Usable clips, and a note for each video skipped (no audio, variable rate, ...)."""
    clips, notes = [], []
    for video in videos:
        try:
            clips.append(load_clip(video, size, labels, cache))
        except SonicVisionError as exc:
            notes.append(f"skipped {video.name}: {exc}")
            logger.warning("skipped %s: %s", video, exc)
    return clips, notes


def split_videos(
    videos: Sequence[Path], fraction: float, seed: int
) -> tuple[list[Path], list[Path]]:
    """(train, val): a seeded ``fraction`` of the videos, at least one each when there are two."""
    n = len(videos)
    n_val = 0 if n < 2 or fraction <= 0 else min(n - 1, max(1, round(fraction * n)))
    order = np.random.default_rng(seed).permutation(n)
    val = sorted(videos[i] for i in order[:n_val])
    return [v for v in videos if v not in val], val


def epoch_windows(
    clips: Sequence[Clip], window: int, rng: np.random.Generator
) -> list[tuple[int, int, int]]:
    """(clip, start, length) crops for one epoch: about one per ``window`` frames, shuffled."""
    items = []
    for index, clip in enumerate(clips):
        n = len(clip.labels)
        length = min(window, n)
        for _ in range(max(1, math.ceil(n / window))):
            items.append((index, int(rng.integers(0, n - length + 1)), length))
    order = rng.permutation(len(items))
    return [items[i] for i in order]


def make_batch(
    clips: Sequence[Clip], items: Sequence[tuple[int, int, int]], flips: Sequence[bool]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames (B, L, S, S, 3), labels and weights (B, L); short crops padded with weight 0."""
    length = max(n for _, _, n in items)
    size = clips[items[0][0]].frames.shape[1]
    frames = np.zeros((len(items), length, size, size, 3), np.uint8)
    labels = np.zeros((len(items), length), np.float32)
    weights = np.zeros((len(items), length), np.float32)
    for row, ((index, start, n), flip) in enumerate(zip(items, flips, strict=True)):
        clip = clips[index]
        crop = np.asarray(clip.frames[start : start + n])
        frames[row, :n] = crop[:, :, ::-1] if flip else crop
        frames[row, n:] = frames[row, n - 1]
        labels[row, :n] = clip.labels[start : start + n]
        weights[row, :n] = event_weights(clip.events, clip.labels, clip.rate, start, start + n)
    return frames, labels, weights


def batch_input(frames: np.ndarray, config: DetectorConfig, device: torch.device) -> torch.Tensor:
    """(B, L, S, S, 3) uint8 BGR -> (B, 3, L, S, S) normalised, as at inference."""
    return torch.stack([to_input(clip, config, device) for clip in frames])


# --- evaluation -----------------------------------------------------------------------------


@torch.inference_mode()
def evaluate(model: FrameDetector, clips: Sequence[Clip]) -> EvalReport:
    """Whole clips through the sliding-window reader, as ``--detector r2plus1d`` reads shots."""
    was_training = model.training
    model.eval()
    config = model.config
    losses, aps, all_probs, all_labels = [], [], [], []
    for clip in clips:
        logits = frame_logits(model, np.asarray(clip.frames), config)
        n = len(logits)
        weights = event_weights(clip.events, clip.labels, clip.rate, 0, n)
        losses.append(
            float(
                weighted_bce(
                    torch.from_numpy(logits)[None],
                    torch.from_numpy(clip.labels.astype(np.float32))[None],
                    torch.from_numpy(weights)[None],
                )
            )
        )
        probs = sigmoid(logits)
        found = [
            (s / clip.rate, float(probs[s:e].max())) for s, e in runs(probs > config.threshold)
        ]
        expected = [s / clip.rate for s, _ in runs(clip.labels)]
        aps.append(onset_ap([t for t, _ in found], [p for _, p in found], expected))
        all_probs.append(probs)
        all_labels.append(clip.labels)
    model.train(was_training)
    probs, labels = np.concatenate(all_probs), np.concatenate(all_labels)
    predicted = probs > config.threshold
    return EvalReport(
        loss=float(np.mean(losses)),
        frame_ap=frame_ap(probs, labels),
        onset_ap=float(np.mean(aps)),
        accuracy=time_accuracy(predicted, labels),
        iou=activity_iou(predicted, labels),
        frames=int(labels.size),
    )


# --- checkpoints ----------------------------------------------------------------------------


def _optimizer_parts(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, entries in state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in [*tensors.items(), *meta["scalars"].items()]:
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_training(
    folder: Path,
    model: FrameDetector,
    optimizer: torch.optim.Optimizer,
    state: dict,
) -> None:
    """Weights, optimizer and state; ``trainer_state.json`` is written last, as the commit."""
    marks = {"epoch": str(state["epoch"]), "step": str(state["step"])}
    save_checkpoint(model, folder, metadata=marks)
    tensors, meta = _optimizer_parts(optimizer)
    with files.replacing(folder / OPTIMIZER_NAME) as tmp:
        save_file(tensors, str(tmp), metadata=marks)
    write_json(folder / STATE_NAME, {**state, "optimizer": meta})


def _metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), "pt") as f:
        return f.metadata() or {}


def load_training(
    folder: Path, device: torch.device
) -> tuple[FrameDetector, torch.optim.Optimizer, dict]:
    """Model, Adam and state of an interrupted run, checked to belong to the same step."""
    path = folder / STATE_NAME
    if not path.is_file():
        raise ConfigError("Nothing to resume: no trainer_state.json.", path=folder)
    state = json.loads(path.read_text())
    for name in (WEIGHTS_NAME, OPTIMIZER_NAME):
        if _metadata(folder / name).get("step") != str(state["step"]):
            raise ConfigError(
                f"{name} is not from step {state['step']} (interrupted while saving?); "
                "start a new --out.",
                path=folder,
            )
    model = FrameDetector(read_config(folder))
    model.load_state_dict(load_file(str(folder / WEIGHTS_NAME)), strict=True)
    model.to(device)
    state["history"] = [h for h in state["history"] if h["epoch"] <= state["epoch"]]
    meta = state.pop("optimizer")
    optimizer = torch.optim.Adam(model.parameters(), lr=meta["param_groups"][0]["lr"])
    optimizer.load_state_dict(_optimizer_state(load_file(str(folder / OPTIMIZER_NAME)), meta))
    return model, optimizer, state


# --- the loop -------------------------------------------------------------------------------


def train_step(
    model: FrameDetector,
    optimizer: torch.optim.Optimizer,
    frames: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
) -> float:
    device = next(model.parameters()).device
    x = batch_input(frames, model.config, device)
    y = torch.from_numpy(labels).to(device)
    w = torch.from_numpy(weights).to(device)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits = model(x).float()
    loss = weighted_bce(logits, y, w)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def train_detector(
    data: Path,
    out: Path,
    *,
    detector: DetectorConfig | None = None,
    train: TrainConfig | None = None,
    val: Path | None = None,
    resume: bool = False,
    device: str | None = None,
    cache: Path | None = None,
    on_epoch: Callable[[EpochReport], None] = lambda report: None,
) -> list[EpochReport]:
    """Train (or resume) and save after every epoch; returns this run's epoch reports."""
    train = train or TrainConfig()
    dev = torch_device(device)
    has_checkpoint = (out / STATE_NAME).exists() or (out / CONFIG_NAME).exists()
    if resume:
        model, optimizer, state = load_training(out, dev)
        if detector is not None and detector != model.config:
            logger.warning("resuming with the checkpoint's detector config, not the one given")
    elif has_checkpoint:
        raise ConfigError(
            "The output folder already holds a detector checkpoint; pass --resume to continue "
            "it or choose another --out.",
            path=out,
        )
    else:
        torch.manual_seed(train.seed)
        model = build_model(detector or DetectorConfig(), train.pretrained).to(dev)
        optimizer = torch.optim.Adam(model.parameters(), lr=train.lr)
        state = {"epoch": 0, "step": 0, "history": []}
    config = model.config

    # 1. Data: videos, their labels from audio, frames at the net's size.
    videos = find_videos(data)
    if val is not None:
        train_videos, val_videos = videos, find_videos(val)
    else:
        train_videos, val_videos = split_videos(videos, train.val_fraction, train.seed)
    train_clips, notes = load_clips(train_videos, config.frame_size, train.labels, cache)
    val_clips, val_notes = load_clips(val_videos, config.frame_size, train.labels, cache)
    if not train_clips:
        raise ConfigError(
            "No usable training videos (each needs a same-stem .wav or an audio stream): "
            + ("; ".join(notes) or "the folder holds no videos"),
            path=data,
        )
    val_is_train = not val_clips
    val_clips = val_clips or train_clips
    state.update(data=str(data), train_config=asdict(train), notes=notes + val_notes)

    # 2. Epochs: seeded crops and flips, weighted BCE, Adam; validate and save each epoch.
    model.train()
    reports = []
    for epoch in range(state["epoch"] + 1, train.epochs + 1):
        rng = np.random.default_rng([train.seed, epoch])
        items = epoch_windows(train_clips, config.window, rng)
        flips = (rng.random(len(items)) < 0.5) & train.flip
        losses = []
        stopped = False
        for i in range(0, len(items), train.batch_size):
            if train.max_steps is not None and state["step"] >= train.max_steps:
                stopped = True
                break
            batch = make_batch(
                train_clips, items[i : i + train.batch_size], flips[i : i + train.batch_size]
            )
            losses.append(train_step(model, optimizer, *batch))
            state["step"] += 1
        if stopped and not losses:
            break
        report = EpochReport(
            epoch=epoch,
            epochs=train.epochs,
            step=state["step"],
            train_loss=float(np.mean(losses)),
            val=evaluate(model, val_clips),
            val_is_train=val_is_train,
        )
        if not stopped:
            state["epoch"] = epoch
        state["history"].append(report.to_dict())
        save_training(out, model, optimizer, state)
        reports.append(report)
        on_epoch(report)
        if stopped:
            break
    return reports
