"""Signals: horns, bells and sirens, the sounds made to be heard, with a pitch you can name.

Tones start at full level within a few milliseconds, so their onset is where they start.
"""

from __future__ import annotations

import numpy as np

from .dsp import PassBy, add, bp, burst, modes, scatter, series, smooth
from .synth import MAX_TAIL_S, Synth


def _tone(ctx: Synth, freq: np.ndarray, drive: float = 2.5) -> np.ndarray:
    """A reedy tone following ``freq`` (Hz per sample): a driven sine, rich in odd harmonics."""
    phase = 2 * np.pi * np.cumsum(freq) / ctx.sr + ctx.rng.uniform(0.0, 2 * np.pi)
    return np.tanh(drive * np.sin(phase)) / np.tanh(drive)


def _gate(ctx: Synth, n: int, attack_s: float = 0.004, release_s: float = 0.03) -> np.ndarray:
    """On at once, off smoothly: the envelope of a pressed button."""
    env = np.ones(n)
    a, r = min(n, ctx.samples(attack_s)), min(n, ctx.samples(release_s))
    env[:a] = np.linspace(0.2, 1.0, a)
    env[n - r :] *= np.linspace(1.0, 0.0, r)
    return env


def _honk(ctx: Synth) -> np.ndarray:
    """One press of a horn: two reed tones a major third apart through the horn's bell."""
    v = ctx.var
    if ctx.has("truck", "air", "train", "ship", "boat", "lorry", "bus", "foghorn"):
        low, high, seconds = 165.0, 208.0, 0.9
    elif ctx.has("bike", "bicycle", "scooter", "toy", "small", "clown"):
        low, high, seconds = 520.0, 655.0, 0.25
    else:  # a car
        low, high, seconds = 400.0, 500.0, 0.45
    if ctx.has("long", "held", "blare", "blaring", "lean", "angry"):
        seconds *= 2.5
    n = ctx.n if ctx.continuous else ctx.samples(seconds * v.timing)
    wobble = 1.0 + 0.004 * smooth(ctx, n, 6.0)
    y = _tone(ctx, np.full(n, low * v.pitch) * wobble) + 0.8 * _tone(
        ctx, np.full(n, high * v.pitch) * wobble
    )
    y = bp(y, ctx.sr, 250.0, 3500.0 * v.bright)
    return y * _gate(ctx, n)


def horn(ctx: Synth) -> np.ndarray:
    if ctx.continuous:
        return scatter(ctx, _honk, 1.6, spread=0.3) if ctx.repeated else _honk(ctx)
    if ctx.one_shot and (ctx.repeated or ctx.has("double", "twice")):
        return series(ctx, _honk, 2, 0.4)
    return _honk(ctx)


# A tuned church bell's partials relative to its strike note (hum, prime, tierce, quint,
# nominal, superquint, octave nominal), with the low ones ringing longest.
_BELL_RATIOS = (0.5, 1.0, 1.2, 1.5, 2.0, 3.0, 4.0)
_BELL_TAUS = (1.0, 0.7, 0.55, 0.4, 0.35, 0.2, 0.12)
_BELL_AMPS = (0.5, 0.8, 0.6, 0.3, 1.0, 0.4, 0.25)


def _strike_bell(ctx: Synth, note: float, ring_s: float) -> np.ndarray:
    v = ctx.var
    taus = [min(MAX_TAIL_S / 7, t * ring_s * v.decay) for t in _BELL_TAUS]
    freqs = [note * v.pitch * r * (1 + ctx.rng.normal(0, 0.002)) for r in _BELL_RATIOS]
    amps = [a * v.bright ** (k / 2) for k, a in enumerate(_BELL_AMPS)]
    y = modes(ctx, ctx.samples(min(MAX_TAIL_S, max(taus) * 7)), freqs, taus, amps)
    add(y, burst(ctx, 0.0015, 2000.0, 10000.0 * v.bright), 0, 0.5)  # the clapper's tick
    return y


def bell(ctx: Synth) -> np.ndarray:
    """A bell: a church bell tolls low and long, a hand or shop bell rings high and short,
    a doorbell goes ding-dong, a bicycle bell rings twice."""
    size = ctx.size
    if ctx.has("doorbell", "dong"):
        return _doorbell(ctx)
    if ctx.has("bicycle", "bike"):
        return series(ctx, lambda c: _strike_bell(c, 2300.0, 0.15), 2, 0.09, spread=0.05)
    if ctx.has("church", "tower", "cathedral", "toll", "big", "large", "huge"):
        note, ring = 330.0 / size, 3.0
    else:  # a hand bell, shop bell or desk bell
        note, ring = 1100.0 / size, 0.9
    if ctx.continuous:
        return scatter(ctx, lambda c: _strike_bell(c, note, ring), 0.6 if ring > 2 else 2.5)
    return _strike_bell(ctx, note, ring)


def _doorbell(ctx: Synth) -> np.ndarray:
    ding = _strike_bell(ctx, 660.0, 0.6)
    dong = _strike_bell(ctx, 523.0, 0.8)
    gap = ctx.samples(0.45 * ctx.var.timing)
    y = np.zeros(max(len(ding), gap + len(dong)))
    add(y, ding, 0)
    add(y, dong, gap, 0.9)
    return y


def _siren_tone(ctx: Synth, n: int) -> np.ndarray:
    v = ctx.var
    if ctx.has("beep", "alarm", "buzzer", "clock", "smoke", "timer", "microwave"):
        on = (np.arange(n) / ctx.sr * 4.0 * v.timing) % 1.0 < 0.55  # four beeps a second
        y = np.sin(2 * np.pi * 2900.0 * v.pitch * np.arange(n) / ctx.sr) * on
        return bp(y, ctx.sr, 1500.0, 6000.0) * _gate(ctx, n, 0.002, 0.01)
    period = 0.35 if ctx.has("yelp", "police", "fast") else 4.0
    t = np.arange(n) / ctx.sr
    sweep = 0.5 - 0.5 * np.cos(2 * np.pi * t / (period * v.timing))  # starts low, rises
    y = _tone(ctx, (650.0 + 700.0 * sweep) * v.pitch, drive=1.5)
    return bp(y, ctx.sr, 400.0, 4000.0 * v.bright) * _gate(ctx, n, 0.003, 0.05)


def siren(ctx: Synth) -> np.ndarray:
    """A siren wails (a slow sweep) or yelps (a fast one), or goes by; an alarm beeps."""
    if ctx.continuous and ctx.passing:
        path = PassBy.spanning(ctx, ctx.n, closest_m=8.0, edge_ratio=6.0)
        return path.render(_siren_tone(ctx, ctx.n + path.lead))
    return _siren_tone(ctx, ctx.n if ctx.continuous else ctx.samples(1.5 * ctx.var.timing))
