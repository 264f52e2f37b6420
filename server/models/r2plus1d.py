"""The paper's timestamp detector (sec. 3.4): R(2+1)D-18 keeping the time axis, a logit per frame.

torchvision's ``r2plus1d_18`` halves time in layers 2-4; a per-frame vector needs every frame,
so those temporal strides are 1 (as in FoleyCrafter), space is pooled away with
``AdaptiveAvgPool3d((None, 1, 1))`` and an MLP 512 -> 128 -> 1 scores each frame. The module
names match torchvision's, so Kinetics weights load with ``strict=True`` at full width.
Shots longer than a window are cut into overlapping windows whose logits are averaged where
they overlap. The detector backend that turns them into events is ``detect/r2plus1d.py``.

A checkpoint is a folder: ``config.json`` (:class:`DetectorConfig`) and ``model.safetensors``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D

from sonicvision import files
from sonicvision.errors import ConfigError

logger = logging.getLogger(__name__)

FORMAT = "sonicvision-r2plus1d-detector"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
KINETICS_FILE = "r2plus1d_18-91a641e6.pth"
"""torchvision's Kinetics-400 weights, used when in ``torch.hub.get_dir()/checkpoints``."""

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


@dataclass(frozen=True)
class DetectorConfig:
    """Everything that shapes the network and its reading of a shot (stored with the weights).

    ``width`` is layer 1's channel count (64 in R(2+1)D-18; 8 builds a test-sized net).
    Frames are squashed to ``frame_size`` squared: the whole picture stays in view (a contact
    at the edge still counts) and every clip has one shape for batching.
    """

    width: int = 64
    head_hidden: int = 128
    frame_size: int = 112
    window: int = 48
    overlap: int = 16
    threshold: float = 0.5
    min_continuous_s: float = 0.3
    windows_per_batch: int = 8

    def __post_init__(self) -> None:
        if self.width < 2 or self.head_hidden < 1:
            raise ConfigError(f"width {self.width} / head_hidden {self.head_hidden} too small")
        if self.frame_size < 16:
            raise ConfigError(
                f"frame_size must be >= 16 (the net strides 16), not {self.frame_size}"
            )
        if self.window < 1 or not 0 <= self.overlap < self.window:
            raise ConfigError(
                f"need window >= 1 and 0 <= overlap < window, got {self.window}, {self.overlap}"
            )
        if not 0.0 < self.threshold < 1.0 or self.windows_per_batch < 1:
            raise ConfigError(
                f"threshold must be in (0, 1), windows_per_batch >= 1; got {self.threshold}, "
                f"{self.windows_per_batch}"
            )

    @property
    def features(self) -> int:
        return 8 * self.width


# --- the network ---------------------------------------------------------------------------


def _stem(width: int) -> nn.Sequential:
    """torchvision's R2Plus1dStem at any width (45 mid channels at width 64), same indices."""
    mid = max(1, round(45 * width / 64))
    return nn.Sequential(
        nn.Conv3d(3, mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(mid),
        nn.ReLU(inplace=True),
        nn.Conv3d(mid, width, (3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


def _layer(inplanes: int, planes: int, stride: int) -> nn.Sequential:
    """Two BasicBlocks as torchvision builds them, but striding space only, never time."""
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = nn.Sequential(
            nn.Conv3d(inplanes, planes, 1, stride=(1, stride, stride), bias=False),
            nn.BatchNorm3d(planes),
        )
    first = BasicBlock(inplanes, planes, Conv2Plus1D, stride, downsample)
    temporal = first.conv1[0][3]  # Conv2Plus1D = spatial conv, BN, ReLU, temporal conv
    temporal.stride = (1, 1, 1)
    return nn.Sequential(first, BasicBlock(planes, planes, Conv2Plus1D))


class Backbone(nn.Module):
    """R(2+1)D-18 without its classifier; ``state_dict`` keys equal torchvision's (minus fc)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.stem = _stem(width)
        self.layer1 = _layer(width, width, 1)
        self.layer2 = _layer(width, 2 * width, 2)
        self.layer3 = _layer(2 * width, 4 * width, 2)
        self.layer4 = _layer(4 * width, 8 * width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))


class FrameDetector(nn.Module):
    """(B, 3, T, H, W) normalised RGB -> (B, T) logits: one per input frame."""

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = Backbone(config.width)
        self.pool = nn.AdaptiveAvgPool3d((None, 1, 1))
        self.head = nn.Sequential(
            nn.Linear(config.features, config.head_hidden),
            nn.ReLU(inplace=True),
            nn.Linear(config.head_hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.pool(self.backbone(x)).flatten(2).transpose(1, 2)  # (B, T, C)
        return self.head(features).squeeze(-1)


def build_model(config: DetectorConfig, pretrained: str | Path | None = None) -> FrameDetector:
    """A fresh detector; ``pretrained`` "auto" loads Kinetics weights when they are on disk.

    A path loads that torchvision checkpoint (an error if it is missing); None or "none"
    starts from random weights. Nothing is ever downloaded.
    """
    model = FrameDetector(config)
    if pretrained is None or str(pretrained) == "none":
        return model
    if str(pretrained) == "auto":
        path = kinetics_path()
        if config.width != 64 or not path.is_file():
            logger.info("no Kinetics weights used (width %d, %s)", config.width, path)
            return model
    else:
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise ConfigError("Pretrained R(2+1)D-18 weights not found.", path=path)
    load_kinetics(model, path)
    return model


def kinetics_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / KINETICS_FILE


def load_kinetics(model: FrameDetector, path: Path) -> None:
    """torchvision's r2plus1d_18 weights into the backbone (its classifier dropped), strictly."""
    if model.config.width != 64:
        raise ConfigError(f"Kinetics weights need width 64, not {model.config.width}", path=path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    model.backbone.load_state_dict(state, strict=True)
    logger.info("backbone initialised from %s", path)


# --- checkpoints ----------------------------------------------------------------------------


def save_checkpoint(
    model: FrameDetector, folder: Path, metadata: dict[str, str] | None = None
) -> None:
    """``config.json`` + ``model.safetensors`` in ``folder``, each file replaced atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, **asdict(model.config)}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with files.replacing(folder / WEIGHTS_NAME) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT, **(metadata or {})})
    write_json(folder / CONFIG_NAME, config)


def write_json(path: Path, data: dict) -> None:
    files.write_text(path, json.dumps(data, indent=2) + "\n")


def read_config(folder: Path) -> DetectorConfig:
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(
            "Not a detector checkpoint (no config.json); train one with "
            "`sonicvision train detector --data DIR --out CKPT`.",
            path=folder,
        )
    data = json.loads(path.read_text())
    if data.pop("format", None) != FORMAT:
        raise ConfigError(f"config.json is not a {FORMAT} config.", path=path)
    known = {f.name for f in fields(DetectorConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"config.json has unknown keys {unknown}.", path=path)
    return DetectorConfig(**data)


def load_checkpoint(folder: str | Path, device: str | torch.device = "cpu") -> FrameDetector:
    """The detector saved in ``folder``: safetensors only, every key matched (strict)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            "Detector checkpoint folder not found; train one with "
            "`sonicvision train detector --data DIR --out CKPT`.",
            path=folder,
        )
    model = FrameDetector(read_config(folder))
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise ConfigError(f"The checkpoint has no {WEIGHTS_NAME}.", path=folder)
    model.load_state_dict(load_file(str(weights)), strict=True)
    return model.to(device).eval()


# --- reading a shot ------------------------------------------------------------------------


def window_starts(n_frames: int, window: int, overlap: int) -> list[int]:
    """Starts of windows covering ``n_frames``; the last is aligned to the end, all full length."""
    if n_frames <= window:
        return [0]
    hop = window - overlap
    starts = list(range(0, n_frames - window + 1, hop))
    if starts[-1] + window < n_frames:
        starts.append(n_frames - window)
    return starts


def to_input(frames: np.ndarray, config: DetectorConfig, device: torch.device) -> torch.Tensor:
    """(T, H, W, 3) uint8 BGR -> (3, T, S, S) float, Kinetics-normalised, on ``device``."""
    x = torch.from_numpy(np.ascontiguousarray(frames[..., ::-1])).to(device)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    size = config.frame_size
    if x.shape[-2:] != (size, size):
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    mean = torch.tensor(KINETICS_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(KINETICS_STD, device=device).view(1, 3, 1, 1)
    return ((x - mean) / std).permute(1, 0, 2, 3)


def _batches(starts: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(starts), size):
        yield starts[i : i + size]


@torch.inference_mode()
def frame_logits(
    model: FrameDetector, frames: np.ndarray, config: DetectorConfig | None = None
) -> np.ndarray:
    """One logit per frame of a shot of any length: windows, averaged where they overlap."""
    config = config or model.config
    n = len(frames)
    if n == 0:
        return np.zeros(0, np.float32)
    device = next(model.parameters()).device
    window = min(config.window, n)
    total = torch.zeros(n, device=device)
    count = torch.zeros(n, device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    for group in _batches(
        window_starts(n, config.window, config.overlap), config.windows_per_batch
    ):
        x = torch.stack([to_input(frames[s : s + window], config, device) for s in group])
        with autocast:
            logits = model(x).float()
        for row, s in zip(logits, group, strict=True):
            total[s : s + window] += row
            count[s : s + window] += 1
    return (total / count).cpu().numpy()


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits)))
