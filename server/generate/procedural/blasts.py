"""Blasts: gunshots, explosions and thunder, a sharp front, a low body and a long tail.

Each starts at full level on its first sample (the crack or the blast is the attack), so
the onset lands on the marked frame; what follows says how big and how far away it was.
"""

from __future__ import annotations

import numpy as np

from .dsp import add, bp, burst, exp_env, grains, lp, scatter, series, smooth, thump, unit
from .synth import MAX_TAIL_S, Synth

_AUTOMATIC = ("automatic", "machine", "rapid", "burst", "gunfire", "volley")


def _distant(ctx: Synth) -> bool:
    return ctx.has("distant", "far", "faraway", "remote", "muffled", "outside", "background")


def _tail(ctx: Synth, n: int, tau: float, lo: float, hi: float) -> np.ndarray:
    """The space answering: band noise that swells in within milliseconds and decays."""
    noise = unit(bp(ctx.rng.standard_normal(n), ctx.sr, lo, hi))
    return noise * exp_env(ctx, n, tau) * (1.0 - exp_env(ctx, n, 0.004))


def _shot(ctx: Synth) -> np.ndarray:
    """One gunshot: the muzzle crack, the blast's low body, a mechanical click, the room."""
    v, size = ctx.var, ctx.size
    if ctx.has("shotgun", "cannon", "rifle", "sniper"):
        body_f, body_tau, tail_tau = 55.0, 0.09, 0.55
    elif ctx.has("pistol", "handgun", "revolver", "small"):
        body_f, body_tau, tail_tau = 90.0, 0.04, 0.3
    else:
        body_f, body_tau, tail_tau = 70.0, 0.06, 0.4
    if ctx.has("indoor", "room", "inside", "hall", "corridor", "interior"):
        tail_tau *= 0.5
    if ctx.has(*_AUTOMATIC):  # each shot's tail is masked by the next one's report
        tail_tau *= 0.35
    suppressed = ctx.has("silenced", "suppressed", "silencer", "suppressor")
    far = _distant(ctx)
    y = np.zeros(ctx.samples(min(MAX_TAIL_S, tail_tau * v.decay * 6 + 0.05)))
    crack = 0.25 if suppressed else (0.5 if far else 1.0)
    add(y, burst(ctx, 0.0008, 1500.0, 12000.0 * v.bright), 0, crack)
    add(y, thump(ctx, body_f * v.pitch / size, body_tau * size * v.decay, drop=1.5), 0, 0.9)
    add(y, burst(ctx, 0.02 * size, 80.0, 2500.0 * v.bright), 0, 0.7)
    if suppressed:  # the action is louder than the muffled report
        add(y, burst(ctx, 0.002, 2500.0, 8000.0), ctx.samples(0.03 * v.timing), 0.4)
    tail = _tail(ctx, len(y), tail_tau * v.decay, 200.0, 2500.0 if far else 5000.0)
    add(y, tail, 0, 0.12 if suppressed else 0.3)
    if far:  # the air takes the highs, and the echo off far walls comes back
        y = lp(y, ctx.sr, 2500.0)
        add(y, 0.35 * y.copy(), ctx.samples(ctx.rng.uniform(0.25, 0.5)))
    return y


def gunshot(ctx: Synth) -> np.ndarray:
    automatic = ctx.has(*_AUTOMATIC)
    if ctx.continuous:
        return scatter(ctx, _shot, 11.0 if automatic else 1.5, spread=0.1 if automatic else 0.5)
    if ctx.one_shot and (automatic or ctx.repeated):
        return series(ctx, _shot, 5 if automatic else 3, 0.09 if automatic else 0.45)
    return _shot(ctx)


def explosion(ctx: Synth) -> np.ndarray:
    """A blast: a crack, a huge low thump, a rumble that rolls on and debris falling back."""
    v, size = ctx.var, ctx.size
    far = _distant(ctx)
    n = ctx.samples(MAX_TAIL_S)
    y = np.zeros(n)
    add(y, burst(ctx, 0.004 * size, 300.0, (4000.0 if far else 10000.0) * v.bright), 0, 0.8)
    add(y, thump(ctx, 38.0 * v.pitch / size, 0.3 * size * v.decay, drop=1.5), 0, 1.0)
    roll = 0.7 + 0.3 * smooth(ctx, n, 3.0)
    rumble = unit(lp(ctx.rng.standard_normal(n), ctx.sr, (200.0 if far else 450.0) * v.bright))
    add(y, rumble * roll * exp_env(ctx, n, 0.7 * size * v.decay), 0, 0.8)
    if not far:
        fall = exp_env(ctx, n, 0.6) * (1.0 - exp_env(ctx, n, 0.25))  # debris lands late
        add(y, grains(ctx, n, 120.0, 1000.0, 6000.0 * v.bright) * fall, 0, 0.25)
    return y


def thunder(ctx: Synth) -> np.ndarray:
    """Thunder: a crack when it is close, then rolls of low rumble that swell and fade.

    Distant thunder has no crack, only the first roll's front, which still starts at once.
    """
    v = ctx.var
    close = ctx.has("clap", "crack", "strike", "lightning", "close", "near", "loud")
    n = ctx.n if ctx.continuous else ctx.samples(MAX_TAIL_S)
    y = np.zeros(n)
    t = 0.0
    while t < n / ctx.sr - 0.3:  # the rolls: each a swell of band-limited rumble
        m = ctx.samples(ctx.rng.uniform(0.8, 1.8) * v.timing)
        tt = np.arange(m) / ctx.sr
        rise = ctx.rng.uniform(0.02, 0.25) if t > 0 else 0.01
        env = (1.0 - np.exp(-tt / rise)) * np.exp(-tt / (m / ctx.sr / 3))
        roll = unit(lp(ctx.rng.standard_normal(m), ctx.sr, ctx.rng.uniform(120.0, 320.0)))
        add(y, roll * env * (0.7 + 0.3 * smooth(ctx, m, 6.0)), int(t * ctx.sr), 1.0 if t else 0.9)
        t += ctx.rng.uniform(0.4, 1.2) if ctx.continuous else ctx.rng.uniform(0.3, 0.9)
    add(y, thump(ctx, 45.0 * v.pitch, 0.12 * v.decay), 0, 0.8)
    if close:
        add(y, burst(ctx, 0.015 * v.decay, 800.0, 9000.0 * v.bright), 0, 1.2)
    return y
