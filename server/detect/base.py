"""The detector interface: frames of one shot in, a per-frame activity vector out.

This is what the paper's timestamp detector produces (sec. 3.4): one binary value per frame
(T_ct) and the event intervals derived from it. Every backend (the embedded motion detector,
R(2+1)D-18) implements :class:`Detector`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

T = TypeVar("T")


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


@dataclass(frozen=True)
class Candidate:
    """One impact candidate and what became of it: the evidence a calibration reads, the
    confidence it gave, and the rule that turned it down ("" when it became a cue)."""

    onset: int  # frame in the shot
    source: str  # what found it: "flow" or "small object"
    features: dict[str, float]
    confidence: float
    verdict: str = ""


@dataclass
class Detection:
    """Per-frame activity (T_ct, bool, one value per frame) and its intervals."""

    activity: np.ndarray
    intervals: list[EventInterval]
    scores: np.ndarray | None = None  # per-frame evidence before thresholding
    notes: list[str] = field(default_factory=list)
    # Candidates turned down, by reason ("face", "periodic", "transition", ...): the report
    # says per shot what was not made into a cue and why.
    rejected: dict[str, int] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)  # impact candidates, judged


class Detector(ABC):
    """Finds when sounds happen in the frames of one shot."""

    name: str = "detector"

    @abstractmethod
    def detect(self, frames: np.ndarray, rate: float) -> Detection:
        """``frames``: (T, H, W, 3) uint8 BGR at analysis resolution; ``rate``: frames/s."""

    def stream(self, rate: float) -> FrameStream:
        """A stream for one clip's frames at ``rate``, decided shot by shot.

        The default keeps each shot's frames and runs :meth:`detect` on them; a detector that
        can measure frame by frame overrides this and keeps only what it measured.
        """
        return BufferedStream(self, rate)

    def for_child(self) -> Detector | None:
        """A copy of this detector to run in a child process beside the decode, or None when
        it must stay in this one (a model on a GPU, weights too big to load twice)."""
        return None


class FrameStream(ABC):
    """One clip's frames, pushed in decoding order, and a :class:`Detection` per shot.

    A shot is asked for once all its frames are pushed; ``first`` counts from the first frame
    pushed. Frames before a shot that was asked for may be forgotten, so shots are asked for
    in order. This lets the decode of a long clip go on while its earlier frames are measured,
    without the clip's pictures ever being held whole.
    """

    @abstractmethod
    def push(self, frame: np.ndarray) -> None:
        """The next frame, (H, W, 3) uint8 BGR at analysis resolution."""

    @abstractmethod
    def shot(self, first: int, count: int, before: int = 0, after: int = 0) -> Detection:
        """Detection for frames ``first .. first + count - 1``, indices relative to the shot.

        ``before`` / ``after``: frames pushed just before / after the shot that belong to the
        same camera take (a clip's handles), which a detector may read for context (an impact
        on the shot's first or last frame needs the frames around it) but never reports on.
        """


class BufferedStream(FrameStream):
    """Keeps the frames of the shot in progress and hands them to ``detector.detect``."""

    def __init__(self, detector: Detector, rate: float) -> None:
        self.detector, self.rate = detector, rate
        self._frames: list[np.ndarray] = []
        self._offset = 0  # stream index of self._frames[0]

    def push(self, frame: np.ndarray) -> None:
        self._frames.append(frame)

    def shot(self, first: int, count: int, before: int = 0, after: int = 0) -> Detection:
        # The frames alone: a whole-shot detector is not asked to read beyond them.
        frames, self._offset = take_shot(self._frames, self._offset, first, count)
        return self.detector.detect(np.stack(frames), self.rate)


def take_shot(
    held: list[T], offset: int, first: int, count: int, before: int = 0, after: int = 0
) -> tuple[list[T], int]:
    """A stream's per-frame items for frames ``first .. first + count - 1``.

    ``held`` starts at stream index ``offset``; the ``before`` / ``after`` frames of context
    must be in it too. Everything up to the shot's end is dropped from ``held`` (shots are
    asked for in order), and the new offset is returned with the items.
    """
    start = first - offset
    if start - before < 0 or start + count + after > len(held):
        raise ValueError(
            f"frames {first - before}..{first + count + after - 1} are not in the stream "
            f"(it holds {offset}..{offset + len(held) - 1})"
        )
    items = held[start : start + count]
    del held[: start + count]
    return items, first + count
