"""The procedural generator: match a preset, synthesise it for the seed, fit length, stereo, level.

Needs no model and no library, so the pipeline always has a sound to place. Every preset is
one numpy/scipy function, deterministic for a request's seed; the seed only nudges pitch,
decay, brightness and timing by a few percent, so repeats vary without becoming another prop.
"""

from __future__ import annotations

import logging
import math
import re
import zlib
from collections.abc import Mapping
from functools import lru_cache

import numpy as np

from sonicvision.errors import ConfigError, RenderError
from sonicvision.server.vocabulary import tokenize

from ..base import Generator, RenderedSound, SoundRequest
from .dsp import sos_filter
from .presets import PRESETS, match_preset
from .synth import MAX_TAIL_S, Preset, Synth, Variation

logger = logging.getLogger(__name__)

PRE_ROLL_S = 0.005  # silence before a one-shot's attack, so the onset is measurable
MAX_PEAK = 0.9
ATTACK_RAMP_S = 0.0002  # declicks sample 0 without moving the measurable onset
FADE_IN_S = 0.015  # continuous sounds: declicked, but still starting on their frame
FADE_OUT_S = 0.08


@lru_cache(maxsize=8)
def _allpass_sos(sr: int) -> np.ndarray:
    """A few second-order all-passes: phase-only smear for the side channel."""
    rows = []
    for f, r in ((310.0, 0.85), (1130.0, 0.8), (3700.0, 0.75)):
        c = -2 * r * math.cos(2 * math.pi * min(f, 0.4 * sr) / sr)
        rows.append([r * r, c, 1.0, 1.0, c, r * r])
    return np.array(rows)


def _to_stereo(y: np.ndarray, sr: int, width: float = 0.22) -> np.ndarray:
    """Mid plus a little all-passed side: slightly wide, mono-compatible, and causal, so no
    energy leaks before the attack."""
    side = width * sos_filter(_allpass_sos(sr), y)
    return np.stack([y + side, y - side], axis=1)


def _fade(n: int, length: int) -> np.ndarray:
    return np.sin(np.linspace(0.0, np.pi / 2, max(1, min(n, length)))) ** 2


class ProceduralGenerator(Generator):
    """Synthesises Foley from presets picked by the words of the request."""

    name = "procedural"

    def __init__(self, presets: Mapping[str, Preset] | None = None) -> None:
        self.presets = dict(PRESETS if presets is None else presets)
        if not self.presets:
            raise ConfigError("The procedural generator needs at least one preset.")

    def render(self, request: SoundRequest) -> RenderedSound:
        wants_span = request.continuous and not request.one_shot
        preset, score = match_preset(request.text, wants_span, self.presets)
        if score == 0:
            logger.info("No preset matches %r; using %s.", request.text, preset.name)
        return self.render_preset(preset, request, score=score)

    def render_preset(
        self, preset: Preset | str, request: SoundRequest, *, score: float | None = None
    ) -> RenderedSound:
        """Render a named preset whatever the text matches (the text still picks variants).

        A one-shot request takes the family's own mode: one sound for an event, a span of
        ``duration_s`` for a texture.
        """
        # 1. Check inputs
        if isinstance(preset, str):
            if preset not in self.presets:
                choices = ", ".join(sorted(self.presets))
                raise ConfigError(f"Unknown preset {preset!r}; choose one of {choices}.")
            preset = self.presets[preset]
        sr = int(request.sample_rate)
        if not 8_000 <= sr <= 384_000:
            raise RenderError(f"Sample rate {sr} Hz is out of range.", field="sample_rate")
        continuous = preset.continuous_default if request.one_shot else request.continuous
        dur = float(request.duration_s)
        if not math.isfinite(dur) or dur < 0 or (continuous and dur <= 0):
            raise RenderError(
                f"Cannot render {dur} s of {request.text!r}: the duration must be positive.",
                field="duration_s",
            )

        # 2. Seeded randomness and this take's variation
        seed = int(request.seed) % (1 << 63)
        rng = np.random.default_rng([seed, zlib.crc32(preset.name.encode())])
        var = Variation.draw(rng)
        n = int(round(dur * sr))
        words = frozenset(tokenize(request.text))
        raw = frozenset(re.findall(r"[a-z]+", request.text.lower()))
        ctx = Synth(
            sr,
            n,
            continuous,
            rng,
            var,
            words,
            raw,
            one_shot=request.one_shot,
            onscreen=request.onscreen,
        )

        # 3. Synthesise
        y = np.asarray(preset.render(ctx), dtype=np.float64)
        if y.ndim != 1 or not np.all(np.isfinite(y)):
            raise RenderError(f"Preset {preset.name!r} produced unusable audio.", field="preset")

        # 4. Fit the length: exact for textures, natural decay for one-shots
        if continuous:
            y = np.pad(y[:n], (0, max(0, n - len(y))))
            # A short fade in keeps the start where the motion starts; the end can linger.
            fade_in = _fade(n, int(min(FADE_IN_S, dur / 6) * sr))
            fade_out = _fade(n, int(min(FADE_OUT_S, dur / 6) * sr))
            y[: len(fade_in)] *= fade_in
            y[n - len(fade_out) :] *= fade_out[::-1]
            pre = 0
        else:
            y = self._trim_tail(y, sr)
            ramp = min(len(y), max(1, int(ATTACK_RAMP_S * sr)))
            y[:ramp] *= np.linspace(0.0, 1.0, ramp + 1)[1:]
            pre = int(round(PRE_ROLL_S * sr))

        # 5. Stereo, pre-roll and level
        audio = _to_stereo(y, sr)
        audio = np.concatenate([np.zeros((pre, 2)), audio])
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        target = min(MAX_PEAK, 10.0 ** (preset.level_db / 20.0))
        if peak > 0:
            audio *= target / peak
        peak_s = float(np.argmax(np.max(np.abs(audio), axis=1))) / sr if audio.size else 0.0
        return RenderedSound(
            audio=np.ascontiguousarray(audio, dtype=np.float32),
            sample_rate=sr,
            onset_s=pre / sr,
            source=f"procedural:{preset.name}",
            matched=bool(score is None or score > 0),
            used=preset.name,
            metadata={
                "preset": preset.name,
                "matched": bool(score is None or score > 0),
                "continuous": continuous,
                "score": float(score) if score is not None else None,
                "seed": int(request.seed),
                "peak_s": peak_s,
            },
        )

    @staticmethod
    def _trim_tail(y: np.ndarray, sr: int) -> np.ndarray:
        """Cut a one-shot where it has decayed 60 dB (at most MAX_TAIL_S) and fade the cut."""
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        if peak == 0:
            return y[: max(1, int(0.01 * sr))].copy()
        last = int(np.flatnonzero(np.abs(y) > peak * 1e-3)[-1]) + 1
        end = min(last + int(0.005 * sr), len(y), int(MAX_TAIL_S * sr))
        y = y[:end].copy()
        fade = _fade(end, int((0.03 if end < last else 0.01) * sr))
        y[end - len(fade) :] *= fade[::-1]
        return y
