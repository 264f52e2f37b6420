"""Gestures: whoosh, cloth, paper, scrape and hand claps, the sounds people make moving."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import signal

from .dsp import (
    PassBy,
    add,
    band,
    bp,
    burst,
    grains,
    lp,
    pulse_train,
    scatter,
    series,
    shape_texture,
    smooth,
    spectral_noise,
    unit,
)
from .synth import MAX_TAIL_S, Synth


def _pass(ctx: Synth, n: int, start: float = 0.3) -> np.ndarray:
    """One whoosh: band noise sweeping up to its peak and back, loudest at 35-50 %."""
    v = ctx.var
    sharp = ctx.has("swish", "sword", "whip", "swipe", "blade", "cane")
    top = (3500.0 if sharp else 1800.0) * v.bright
    peak_at = ctx.rng.uniform(0.35, 0.5)
    pos = np.arange(n) / max(1, n - 1)
    rise = np.sin(np.clip(pos / peak_at, 0, 1) * np.pi / 2) ** 2
    fall = np.cos(np.clip((pos - peak_at) / (1 - peak_at), 0, 1) * np.pi / 2) ** 2
    shape = np.where(pos < peak_at, rise, fall)

    def gains(times: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        s = np.interp(times, pos * (n / ctx.sr), shape)
        return band(freqs, 700.0 + (top - 700.0) * s, 1.0 - 0.3 * s)

    y = np.tanh(spectral_noise(ctx, n, gains) / 3.0)  # even grain, no stray spikes
    env = start + (1.0 - start) * shape  # starts audibly: the onset is where it starts
    env[pos > peak_at] = shape[pos > peak_at]
    return y * env


def _fly_by(ctx: Synth, n: int) -> np.ndarray:
    """Something going past the camera: air that brightens as it nears and dulls as it
    leaves, heard through a pass-by (approach, loudest at the centre, recede)."""
    sharp = ctx.has("swish", "sword", "whip", "swipe", "blade", "cane")
    top = (3500.0 if sharp else 2200.0) * ctx.var.bright
    path = PassBy.spanning(ctx, n, closest_m=0.6 * ctx.size, edge_ratio=ctx.passby_edges)

    def gains(times: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        near = path.proximity(times)
        return band(freqs, 500.0 + (top - 500.0) * near, 1.1 - 0.4 * near)

    return path.render(np.tanh(spectral_noise(ctx, n + path.lead, gains) / 3.0))


def whoosh(ctx: Synth) -> np.ndarray:
    sharp = ctx.has("swish", "sword", "whip", "swipe", "blade", "cane")
    if not ctx.continuous:
        return _pass(ctx, ctx.length(0.5, 0.15, 0.6 if sharp else 1.5))
    if ctx.n <= ctx.samples(4.0) or ctx.passing:  # one pass across the whole event
        return _fly_by(ctx, ctx.n)
    y = np.zeros(ctx.n)
    t = 0.0
    while t < ctx.n / ctx.sr:
        n = ctx.samples(ctx.rng.uniform(0.4, 1.0) * ctx.var.timing)
        add(y, _pass(ctx, n), int(t * ctx.sr), ctx.rng.uniform(0.6, 1.0))
        t += ctx.rng.uniform(0.5, 1.3)
    return y


def _bumps(ctx: Synth, n: int, rate_hz: float, first_attack_s: float) -> np.ndarray:
    """Envelope of separate movements: quick rise, slower fall, a few per second."""
    env = np.zeros(n)
    t = 0.0
    first = True
    while t < n / ctx.sr:
        length = ctx.rng.uniform(0.12, 0.35) * ctx.var.timing
        m = ctx.samples(length)
        tt = np.arange(m) / ctx.sr
        attack = first_attack_s if first else ctx.rng.uniform(0.01, 0.05)
        bump = np.minimum(1.0, tt / attack) * np.exp(-tt / (length / 3))
        add(env, bump, int(t * ctx.sr), 1.0 if first else ctx.rng.uniform(0.4, 1.0))
        t += ctx.rng.uniform(0.6, 1.6) / rate_hz
        first = False
    return env


def cloth(ctx: Synth) -> np.ndarray:
    n = ctx.length(0.5, 0.15, 1.5)
    v = ctx.var
    carrier = unit(bp(ctx.rng.standard_normal(n), ctx.sr, 400.0, 7000.0 * v.bright))
    crinkle = np.abs(lp(ctx.rng.standard_normal(n), ctx.sr, 40.0))
    crinkle = 0.4 + 0.6 * crinkle / (np.max(crinkle) + 1e-12)
    env = _bumps(ctx, n, 3.0, 0.0005 if not ctx.continuous else 0.03)
    return carrier * crinkle * (0.04 + env)


def paper(ctx: Synth) -> np.ndarray:
    v = ctx.var
    if ctx.has("page", "turn", "book", "flip", "leaf") and not ctx.continuous:
        n = ctx.samples(0.45 * v.timing)
        tt = np.arange(n) / ctx.sr
        swish = unit(bp(ctx.rng.standard_normal(n), ctx.sr, 300.0, 3000.0 * v.bright))
        env = 0.3 + 0.7 * np.exp(-(((tt - 0.15) / 0.08) ** 2))
        y = swish * env * (tt < 0.32)
        add(y, burst(ctx, 0.004, 800.0, 6000.0 * v.bright), ctx.samples(0.3 * v.timing), 0.9)
        return y
    n = ctx.length(0.6, 0.2, 1.5)
    env = _bumps(ctx, n, 2.5, 0.0002 if not ctx.continuous else 0.02)
    hi = grains(ctx, n, 700.0, 1500.0, 9000.0 * v.bright)
    lo = grains(ctx, n, 200.0, 400.0, 2000.0)
    return (hi + 0.5 * lo) * (0.03 + env)


def scrape(ctx: Synth) -> np.ndarray:
    n = ctx.length(0.8, 0.15, MAX_TAIL_S)
    v = ctx.var
    heavy = ctx.has("chair", "furniture", "drag", "heavy", "table", "box", "crate", "sofa")
    rate = (60.0 if heavy else 140.0) * v.pitch * (1 + 0.25 * smooth(ctx, n, 4.0))
    lo, hi = (300.0, 2500.0) if heavy else (800.0, 6000.0)
    judder = unit(bp(pulse_train(ctx, rate), ctx.sr, lo, hi * v.bright))
    hiss = unit(bp(ctx.rng.standard_normal(n), ctx.sr, 1000.0, 8000.0 * v.bright))
    rough = 0.6 + 0.4 * smooth(ctx, n, 12.0)
    y = (judder + 0.4 * hiss) * rough
    if ctx.has("screech", "squeal", "squeak"):
        tt = np.arange(n) / ctx.sr
        f = 1800.0 * v.pitch * (1 + 0.02 * np.sin(2 * np.pi * 6 * tt))
        y += 0.6 * np.sin(2 * np.pi * np.cumsum(f) / ctx.sr)
    if ctx.continuous:
        return y * (0.6 + 0.4 * smooth(ctx, n, 0.5))
    return shape_texture(ctx, y)


def _clap(ctx: Synth) -> np.ndarray:
    """Two palms meeting: a short crack of air through the cupped hands' resonance."""
    v = ctx.var
    f = ctx.rng.uniform(900.0, 1500.0) * v.pitch
    y = burst(ctx, 0.009 * v.decay, f * 0.6, f * 2.2 * v.bright)
    add(y, burst(ctx, 0.0015, 2000.0, 9000.0 * v.bright), 0, 0.5)
    return y


def clap(ctx: Synth) -> np.ndarray:
    if ctx.continuous:  # applause: many hands, or one pair clapping along
        if ctx.has("applause", "applaud", "crowd", "audience", "ovation"):
            y = np.zeros(ctx.n)
            for _ in range(4):  # four kinds of hands, each pair at its own random times
                hands = np.zeros(ctx.n)
                count = ctx.rng.poisson(12.0 * ctx.n / ctx.sr)
                np.add.at(hands, ctx.rng.integers(0, ctx.n, count), ctx.rng.uniform(0.3, 1, count))
                sub = dataclasses.replace(ctx, var=ctx.var.nudged(ctx.rng))
                y += signal.fftconvolve(hands, _clap(sub))[: ctx.n]
            return y
        return scatter(ctx, _clap, 2.5, spread=0.1)
    if ctx.one_shot and ctx.repeated:
        return series(ctx, _clap, 3, 0.4, spread=0.05)
    return _clap(ctx)
