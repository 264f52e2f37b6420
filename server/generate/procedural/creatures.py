"""Creatures: a dog's bark and a bird's chirp, voiced sounds with a moving pitch.

A bark is glottal pulses at a pitch that jumps up and falls, through a few mouth resonances;
a chirp is a quick whistle sweep. Both start at once, so the onset is the first sample.
"""

from __future__ import annotations

import numpy as np

from .dsp import add, bp, burst, exp_env, pulse_train, scatter, series, unit
from .synth import Synth

# (f0 Hz, formants Hz, length s) by the size of the dog.
_DOGS = {
    "small": (720.0, (1100.0, 2600.0, 4200.0), 0.11),
    "medium": (430.0, (800.0, 1800.0, 3000.0), 0.17),
    "big": (260.0, (550.0, 1300.0, 2500.0), 0.24),
}


def _dog(ctx: Synth) -> str:
    if ctx.has("small", "little", "tiny", "puppy", "chihuahua", "terrier", "yap", "yappy"):
        return "small"
    if ctx.has("big", "large", "huge", "heavy", "mastiff", "shepherd", "hound", "deep"):
        return "big"
    return "medium"


def _bark(ctx: Synth) -> np.ndarray:
    v = ctx.var
    f0, formants, seconds = _DOGS[_dog(ctx)]
    n = ctx.samples(seconds * v.timing)
    t = np.arange(n) / n
    contour = f0 * v.pitch * (1.0 + 0.45 * np.sin(np.pi * np.minimum(1.0, t * 1.6)) - 0.2 * t)
    voice = pulse_train(ctx, contour, jitter=0.15)
    y = np.zeros(n)
    for k, f in enumerate(formants):
        y += 0.6**k * bp(voice, ctx.sr, f * 0.85 * v.pitch, f * 1.15 * v.pitch * v.bright)
    rough = unit(bp(ctx.rng.standard_normal(n), ctx.sr, 600.0, 5000.0 * v.bright))
    y = unit(y) + 0.35 * rough
    env = np.minimum(1.0, np.arange(n) / ctx.samples(0.004)) * np.exp(-3.0 * t**2)
    env = np.maximum(env, 0.6 * exp_env(ctx, n, 0.01))  # the bark's bite starts at once
    add(y, burst(ctx, 0.003, 800.0, 5000.0), 0, 0.6)
    return y * env * np.cos(np.pi / 2 * t) ** 0.5


def dog_bark(ctx: Synth) -> np.ndarray:
    if ctx.continuous:  # barking: barks in ones and twos, a few a second
        return scatter(ctx, _bark, 2.2 if _dog(ctx) != "big" else 1.4, spread=0.5)
    if ctx.one_shot and ctx.repeated:
        return series(ctx, _bark, 3, 0.35)
    return _bark(ctx)


def _chirp(ctx: Synth) -> np.ndarray:
    """One whistle: a sweep down (or up) by a few semitones over 20-70 ms."""
    v = ctx.var
    n = ctx.samples(ctx.rng.uniform(0.02, 0.07) * v.timing)
    start = ctx.rng.uniform(2500.0, 5500.0) * v.pitch
    end = start * 2.0 ** (ctx.rng.uniform(-8.0, 5.0) / 12.0)
    freq = np.geomspace(start, end, n)
    y = np.sin(2 * np.pi * np.cumsum(freq) / ctx.sr + 0.5 * np.pi)  # starts at its crest
    return y * (1.0 - np.arange(n) / n) ** 0.7


def _phrase(ctx: Synth) -> np.ndarray:
    """A bird's phrase: three to six chirps in quick succession."""
    return series(ctx, _chirp, int(ctx.rng.integers(3, 7)), 0.09, spread=0.4)


def bird(ctx: Synth) -> np.ndarray:
    if ctx.continuous:  # birdsong: phrases here and there
        return scatter(ctx, _phrase, 1.2, spread=0.7)
    return _phrase(ctx)
