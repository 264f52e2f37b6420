"""What sounds: the interface every describer shares (the paper's VLM stage, sec. 3.3).

A describer names the sound of each event a detector found in a shot, and says where the
name came from, so the editor knows what to check.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sonicvision.events import Shot

from ..detect.base import EventInterval


@dataclass(frozen=True)
class Description:
    text: str
    source: str  # "clip name", "motion cue", "vlm", "vlm-fallback"


class Describer(ABC):
    """Names the sound of each event found in a shot."""

    name: str = "describer"

    def prefetch(self, shots: Sequence[Shot]) -> None:
        """Optional hook: see every shot with events before ``describe``, to batch model work."""
        return None

    @abstractmethod
    def describe(
        self,
        shot: Shot,
        events: Sequence[EventInterval],
        event_seconds: Sequence[float],
        frames: np.ndarray | None = None,
    ) -> list[Description]:
        """One description per event; ``event_seconds`` are their onsets in timeline seconds.

        The editor's ``SFX:`` markers are never an event's name: they are off-screen prompts,
        and an on-screen cue is renamed by editing its ``SV CUE:`` marker.
        """
