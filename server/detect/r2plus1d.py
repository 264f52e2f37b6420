"""``--detector r2plus1d:CKPT``: the paper's timestamp detector (sec. 3.4) as a detector backend.

The network (:mod:`sonicvision.server.models.r2plus1d`) gives one probability per frame;
``probability > threshold`` is T_ct and each of its runs is an event, its onset on the run's
first frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from sonicvision.errors import ConfigError

from ..models.device import torch_device
from ..models.r2plus1d import (
    DetectorConfig,
    FrameDetector,
    frame_logits,
    load_checkpoint,
    sigmoid,
)
from ..models.spec import apply_options, split_spec
from .base import Detection, Detector, EventInterval


def runs(active: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True, stop exclusive."""
    edges = np.diff(np.concatenate(([0], np.asarray(active, np.int8), [0])))
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )


def intervals_from_scores(
    probs: np.ndarray, rate: float, threshold: float = 0.5, min_continuous_s: float = 0.3
) -> tuple[np.ndarray, list[EventInterval]]:
    """T_ct = probs > threshold; each run is an event with its onset at the run's first frame.

    A run longer than ``min_continuous_s`` is a continuous sound; shorter ones are impacts
    (attack and decay). Strength is the run's highest probability.
    """
    activity = np.asarray(probs) > threshold
    intervals = [
        EventInterval(
            onset=start,
            end=stop,
            continuous=(stop - start) / rate > min_continuous_s,
            strength=float(np.max(probs[start:stop])),
            motion="continuous" if (stop - start) / rate > min_continuous_s else "impact",
        )
        for start, stop in runs(activity)
    ]
    return activity, intervals


class R2Plus1DDetector(Detector):
    """``--detector r2plus1d:CKPT``: the trained network behind the :class:`Detector` interface."""

    name = "r2plus1d"

    def __init__(self, model: FrameDetector, config: DetectorConfig | None = None) -> None:
        self.model = model.eval()
        self.config = config or model.config

    @property
    def device(self) -> str:
        return str(next(self.model.parameters()).device)

    def scores(self, frames: np.ndarray) -> np.ndarray:
        """Per-frame probability that a sound is heard."""
        return sigmoid(frame_logits(self.model, frames, self.config))

    def detect(self, frames: np.ndarray, rate: float) -> Detection:
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be (T, H, W, 3), got {frames.shape}")
        probs = self.scores(frames)
        activity, intervals = intervals_from_scores(
            probs, rate, self.config.threshold, self.config.min_continuous_s
        )
        return Detection(activity=activity, intervals=intervals, scores=probs)


@dataclass(frozen=True)
class _RunOptions:
    """What a spec may change at run time (the network's shape comes from the checkpoint)."""

    threshold: float | None = None
    window: int | None = None
    overlap: int | None = None
    windows_per_batch: int | None = None
    min_continuous_s: float | None = None
    device: str | None = None


def build_detector(arg: str | None) -> R2Plus1DDetector:
    """The registry factory: ``r2plus1d:CKPT[,threshold=0.5,window=48,overlap=16,device=cuda]``."""
    if not arg:
        raise ConfigError(
            "the r2plus1d detector needs a checkpoint trained with `sonicvision train detector`: "
            "--detector r2plus1d:CKPT",
            field="detector",
        )
    path, options = split_spec(arg, "detector")
    run = apply_options(_RunOptions(), options, "detector")
    model = load_checkpoint(path, torch_device(run.device))
    changes = {k: v for k, v in asdict(run).items() if v is not None and k != "device"}
    return R2Plus1DDetector(model, replace(model.config, **changes))
