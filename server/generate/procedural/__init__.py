"""Procedural Foley: small parametric synthesis presets chosen by the words of the prompt.

``generator`` renders; ``presets`` is the registry and the matching; the family modules
(``impacts``, ``footsteps``, ``gestures``, ``props``, ``textures``, ``blasts``, ``signals``,
``creatures``) synthesise, built from ``dsp``'s helpers and the types in ``synth``.
"""

from .generator import ProceduralGenerator
from .presets import FALLBACK_CONTINUOUS, FALLBACK_ONE_SHOT, PRESETS, match_preset, rank_presets
from .synth import MAX_TAIL_S, Preset, Synth, Variation

__all__ = [
    "FALLBACK_CONTINUOUS",
    "FALLBACK_ONE_SHOT",
    "MAX_TAIL_S",
    "PRESETS",
    "Preset",
    "ProceduralGenerator",
    "Synth",
    "Variation",
    "match_preset",
    "rank_presets",
]
