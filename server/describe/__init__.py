"""What sounds: describers name each detected event (``--describer none|vlm:MODEL``)."""

from .base import Describer, Description
from .embedded import MOTION_CUES, EmbeddedDescriber

__all__ = ["MOTION_CUES", "Describer", "Description", "EmbeddedDescriber"]
