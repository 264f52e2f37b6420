"""Props with their own mechanics: a door (slam, creak, latch), water, a bouncing ball."""

from __future__ import annotations

import dataclasses

import numpy as np

from .dsp import (
    add,
    bp,
    burst,
    modes,
    pulse_train,
    smooth,
    thump,
    unit,
)
from .synth import MAX_TAIL_S, Synth


def _latch(ctx: Synth, gain: float = 1.0) -> np.ndarray:
    f = 2400.0 * ctx.var.pitch
    y = modes(ctx, ctx.samples(0.08), [f, f * 1.6, f * 2.9], [0.02, 0.015, 0.01], [1, 0.6, 0.3])
    add(y, burst(ctx, 0.002, 2000.0, 9000.0), 0, 0.6)
    return gain * y


def _slam(ctx: Synth) -> np.ndarray:
    size, v = ctx.size, ctx.var
    y = np.zeros(ctx.samples(0.9 * size))
    add(y, thump(ctx, 60.0 * v.pitch / size, 0.12 * v.decay * size), 0, 1.0)
    f0 = 150.0 * v.pitch / size
    panel = modes(
        ctx,
        len(y),
        [f0, f0 * 2.3, f0 * 3.9, f0 * 6.1],
        [0.12 * v.decay, 0.08, 0.05, 0.03],
        [0.6 * v.bright**k for k in (0, 1, 2, 3)],
    )
    add(y, panel, 0)
    add(y, burst(ctx, 0.006, 500.0, 4000.0 * v.bright), 0, 0.8)
    add(y, _latch(ctx), ctx.samples(0.012 * v.timing), 0.35)
    for at, gain in ((0.05, 0.15), (0.09, 0.08)):
        add(y, _latch(ctx), ctx.samples(at * v.timing), gain)
    return y


def _creak_sound(ctx: Synth, n: int) -> np.ndarray:
    """Stick-slip pulses at a gliding rate through a few wooden resonances."""
    v = ctx.var
    rate = 35.0 * v.pitch * (1.0 + 0.5 * smooth(ctx, n, 3.0))
    pulses = pulse_train(ctx, rate)
    y = np.zeros(n)
    for f, g in ((650.0, 1.0), (1300.0, 0.6), (2100.0, 0.35 * v.bright)):
        f *= v.pitch
        y += g * bp(pulses, ctx.sr, f * 0.94, f * 1.06)
    return unit(y) * (0.7 + 0.3 * smooth(ctx, n, 2.0))


def door(ctx: Synth) -> np.ndarray:
    """A slam (with its latch), or a creak ending in the latch; over a span, creaks, unless
    the words say slam: a slam is one event even over a span, and it starts the span."""
    slam = ctx.has("slam", "shut", "bang")
    if ctx.continuous and not slam:
        y = np.zeros(ctx.n)
        t = 0.0
        while t < ctx.n / ctx.sr:
            m = ctx.samples(ctx.rng.uniform(0.6, 1.5))
            add(y, _creak_sound(ctx, m) * np.hanning(m), int(t * ctx.sr), 1.0)
            t += m / ctx.sr + ctx.rng.uniform(0.1, 0.6)
        return y
    if not slam and ctx.has("creak", "squeak", "open", "hinge", "slow"):
        m = ctx.length(0.9, 0.4, 2.0)
        creak = _creak_sound(ctx, m)
        fade = min(m, ctx.samples(0.04))
        creak[m - fade :] *= np.linspace(1.0, 0.0, fade)
        y = np.zeros(m + ctx.samples(0.3))
        add(y, creak, 0, 0.5)
        add(y, _latch(ctx), m, 0.8)
        add(y, thump(ctx, 90.0 * ctx.var.pitch, 0.05), m, 0.4)
        return y
    return _slam(ctx)


def _bubble(ctx: Synth, f: float, tau: float) -> np.ndarray:
    """A Minnaert bubble: a decaying sine whose pitch rises as it nears the surface."""
    m = ctx.samples(tau * 6)
    tt = np.arange(m) / ctx.sr
    freq = np.minimum(f * (1 + 0.4 * tt / (tau * 6)), 0.45 * ctx.sr)
    return np.sin(2 * np.pi * np.cumsum(freq) / ctx.sr) * np.exp(-tt / tau)


def water(ctx: Synth) -> np.ndarray:
    v, size = ctx.var, ctx.size
    if ctx.continuous:  # a stream or pouring water: a bed of bubbles over band noise
        n = ctx.n
        bed = unit(bp(ctx.rng.standard_normal(n), ctx.sr, 300.0, 3000.0 * v.bright))
        y = 0.3 * bed * (0.7 + 0.3 * smooth(ctx, n, 3.0))
        count = ctx.rng.poisson(40.0 * n / ctx.sr)
        for at in ctx.rng.integers(0, n, count):
            b = _bubble(ctx, ctx.rng.uniform(400.0, 1500.0) * v.pitch, ctx.rng.uniform(0.01, 0.04))
            add(y, b, int(at), ctx.rng.uniform(0.1, 0.5))
        return y
    if ctx.has("drip", "droplet", "plink", "drop"):
        y = _bubble(ctx, 1200.0 * v.pitch / size, 0.025 * v.decay)
        y[0] = 0.0
        add(y, burst(ctx, 0.002, 2000.0, 8000.0), 0, 0.5)
        return y
    n = ctx.samples(0.9 * size)
    y = burst(ctx, 0.12 * size * v.decay, 200.0, 9000.0 * v.bright)
    y = np.concatenate([y, np.zeros(max(0, n - len(y)))])
    add(y, burst(ctx, 0.25 * size, 2500.0, 10000.0), ctx.samples(0.02), 0.25)
    add(y, thump(ctx, 120.0 * v.pitch / size, 0.04), 0, 0.6)
    times = np.minimum(ctx.rng.exponential(0.12 * size, 25), 0.6 * size)
    for t in times:
        b = _bubble(
            ctx, ctx.rng.uniform(400.0, 1600.0) * v.pitch / size, ctx.rng.uniform(0.015, 0.05)
        )
        add(y, b, int(t * ctx.sr), ctx.rng.uniform(0.15, 0.4))
    return y


def bounce(ctx: Synth) -> np.ndarray:
    v = ctx.var
    if ctx.has("ping", "pong", "golf", "marble"):
        thump_f, ring_f, ring_tau, dt0, click = 900.0, 2200.0, 0.015, 0.3, 0.8
    elif ctx.has("tennis", "small", "rubber"):
        thump_f, ring_f, ring_tau, dt0, click = 300.0, 1200.0, 0.03, 0.4, 0.5
    else:  # a basketball or football: hollow and low
        thump_f, ring_f, ring_tau, dt0, click = 140.0, 520.0, 0.09, 0.5, 0.3

    def hit(c: Synth) -> np.ndarray:
        y = thump(c, thump_f * c.var.pitch, 0.03 * c.var.decay, drop=0.5)
        ring = modes(c, c.samples(ring_tau * 7), [ring_f * c.var.pitch], [ring_tau], [0.5])
        y = np.concatenate([y, np.zeros(max(0, len(ring) - len(y)))])
        add(y, ring, 0)
        add(y, burst(c, 0.002, 1500.0, 8000.0 * c.var.bright), 0, click)
        return y

    if ctx.continuous:  # dribbling: steady bounces
        y = np.zeros(ctx.n)
        t = ctx.rng.uniform(0.02, 0.1)
        while t < ctx.n / ctx.sr:
            sub = dataclasses.replace(ctx, var=v.nudged(ctx.rng, 0.3))
            add(y, hit(sub), int(t * ctx.sr), ctx.rng.uniform(0.85, 1.0))
            t += dt0 * v.timing * ctx.rng.uniform(0.97, 1.03)
        return y
    if not (ctx.one_shot and ctx.has("bounce")):
        return hit(ctx)  # one landing in the picture is one hit; each bounce is its own event
    restitution = 0.76 * v.decay  # an instant marked "ball bouncing": it bounces to rest
    y = np.zeros(ctx.samples(MAX_TAIL_S))
    t, dt, gain = 0.0, dt0 * v.timing, 1.0
    while t < MAX_TAIL_S - 0.2 and gain > 0.03 and dt > 0.02:
        add(y, hit(ctx), int(t * ctx.sr), gain)
        t += dt
        dt *= restitution
        gain *= restitution**0.8
    return y
