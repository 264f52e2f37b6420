"""The detector interface: frames of one shot in, a per-frame activity vector out.

This is what the paper's timestamp detector produces (sec. 3.4): one binary value per frame
(T_ct) and the event intervals derived from it. Every backend (the embedded motion detector,
R(2+1)D-18) implements :class:`Detector`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class EventInterval:
    """A run of active frames, in frame indices relative to the shot's first frame.

    ``onset`` is the frame where the sound's attack belongs (the contact frame for an impact);
    ``end`` is exclusive. ``motion`` names what the pictures showed ("impact", "slide",
    "pass-by", ...) so a describer without a VLM can choose a cue.
    """

    onset: int
    end: int
    continuous: bool
    strength: float
    motion: str


@dataclass
class Detection:
    """Per-frame activity (T_ct, bool, one value per frame) and its intervals."""

    activity: np.ndarray
    intervals: list[EventInterval]
    scores: np.ndarray | None = None  # per-frame evidence before thresholding
    notes: list[str] = field(default_factory=list)


class Detector(ABC):
    """Finds when sounds happen in the frames of one shot."""

    name: str = "detector"

    @abstractmethod
    def detect(self, frames: np.ndarray, rate: float) -> Detection:
        """``frames``: (T, H, W, 3) uint8 BGR at analysis resolution; ``rate``: frames/s."""
