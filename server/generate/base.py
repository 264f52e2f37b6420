"""The generator interface: a sound description and a length in, audio out.

Backends (procedural synthesis, the user's SFX library, the paper's latent diffusion model)
render at their own rate; placement aligns the sound's own onset to the event's frame, so a
backend reports where the attack is inside what it returns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SoundRequest:
    """What to render. ``activity`` is T_ct at ``activity_rate`` (optional; for time control).

    ``one_shot`` marks an instant the editor set (a zero-length or one-frame ``SFX:`` marker):
    an event-like sound (door slam, gunshot, glass break) then renders as one sound with its
    attack at ``onset_s``, at its natural length, whatever ``continuous`` says; a texture-like
    one (rain, wind, room tone) fills ``duration_s`` as a continuous sound.
    ``onscreen``: the event was seen, so a pass-by is already near when its span starts.
    ``start_s``: where the event sits in the timeline, so a generator may render nearby events
    in one model window (the LDM does); None keeps the event on its own.
    """

    text: str
    duration_s: float
    continuous: bool
    seed: int
    sample_rate: int = 48_000
    activity: np.ndarray | None = None
    activity_rate: float = 0.0
    one_shot: bool = False
    onscreen: bool = False  # seen in the picture: its whole span is close to the camera
    start_s: float | None = None


@dataclass
class RenderedSound:
    """Audio as float32 (samples, channels) in [-1, 1], with where its attack is.

    ``matched`` is False when nothing the backend knows matched the request's words and a
    fallback was used instead; ``used`` names what was used (a family, a file), so the editor
    can be told "prompt 'X': no matching sound, used Y".
    """

    audio: np.ndarray
    sample_rate: int
    onset_s: float  # the attack's position in ``audio``; 0 for sounds with no attack
    source: str  # preset name, library file, or model id: shown to the editor
    metadata: dict = field(default_factory=dict)
    matched: bool = True
    used: str = ""  # empty: ``source`` says it

    def __post_init__(self) -> None:
        self.used = self.used or self.source


class Generator(ABC):
    """Renders a sound for a text description."""

    name: str = "generator"

    @abstractmethod
    def render(self, request: SoundRequest) -> RenderedSound:
        """Render one sound; deterministic for a given request (seed included)."""

    def render_batch(self, requests: list[SoundRequest]) -> list[RenderedSound]:
        """Backends that batch (the LDM) override this; the default renders one by one."""
        return [self.render(r) for r in requests]
