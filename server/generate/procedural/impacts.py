"""Impacts: struck wood, metal, glass and soft bodies, by modal synthesis plus a contact click.

A continuous impact request is sustained contact with the material (a slide), or a series of
hits when the words ask for repetition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .dsp import (
    add,
    bp,
    burst,
    exp_env,
    grains,
    lp,
    modes,
    pulse_train,
    scatter,
    series,
    smooth,
    thump,
    unit,
)
from .synth import MAX_TAIL_S, RenderFn, Synth


@dataclass(frozen=True)
class _Material:
    f0: float
    ratios: tuple[float, ...]
    taus: tuple[float, ...]
    amps: tuple[float, ...]
    click: tuple[float, float, float, float]  # lo Hz, hi Hz, decay s, gain
    thump: tuple[float, float, float] = (0.0, 0.0, 0.0)  # Hz, decay s, gain


_MATERIALS = {
    "wood": _Material(
        f0=240.0,
        ratios=(1.0, 2.76, 5.40, 8.93),
        taus=(0.05, 0.03, 0.018, 0.012),
        amps=(1.0, 0.5, 0.3, 0.15),
        click=(700.0, 5000.0, 0.003, 0.8),
        thump=(95.0, 0.03, 0.5),
    ),
    "metal": _Material(
        f0=520.0,
        ratios=(1.0, 2.32, 3.86, 5.17, 6.80, 8.52, 10.6),
        taus=(1.1, 0.85, 0.65, 0.5, 0.36, 0.26, 0.18),
        amps=(1.0, 0.8, 0.6, 0.45, 0.35, 0.25, 0.15),
        click=(2000.0, 10000.0, 0.0015, 0.6),
    ),
    "glass": _Material(
        f0=2100.0,
        ratios=(1.0, 1.72, 2.63, 3.55),
        taus=(0.35, 0.25, 0.15, 0.1),
        amps=(1.0, 0.5, 0.35, 0.2),
        click=(3000.0, 12000.0, 0.001, 0.6),
        thump=(180.0, 0.015, 0.25),
    ),
}


_RESTING = ("drop", "set", "put", "place", "land", "fall", "table", "floor", "ground", "desk")


def _strike(ctx: Synth, mat: _Material) -> np.ndarray:
    size, v = ctx.size, ctx.var
    # A ringing object dropped or set down rests on a surface that damps it.
    damp = 0.3 if max(mat.taus) > 0.2 and ctx.has(*_RESTING) else 1.0
    taus = [tau * v.decay * math.sqrt(size) * damp for tau in mat.taus]
    n = ctx.samples(min(MAX_TAIL_S, max(taus) * 7 + 0.02))
    f0 = mat.f0 * v.pitch / size
    freqs = [f0 * r * (1 + ctx.rng.normal(0, 0.004)) for r in mat.ratios]
    amps = [a * v.bright**k for k, a in enumerate(mat.amps)]
    y = modes(ctx, n, freqs, taus, amps)
    lo, hi, tau, gain = mat.click
    add(y, burst(ctx, tau, lo, hi * v.bright), 0, gain)
    f, tau, gain = mat.thump
    if gain:
        add(y, thump(ctx, f * v.pitch / size, tau * size), 0, gain)
    return y


def _rub(ctx: Synth, mat: _Material, lo: float, hi: float, rate: float) -> np.ndarray:
    """Sustained contact with a material (sliding, rubbing, rolling): stick-slip pulses that
    excite the material's lowest modes, over friction hiss."""
    n, v = ctx.n, ctx.var
    pulses = pulse_train(ctx, rate * v.pitch * (1 + 0.3 * smooth(ctx, n, 5.0)), jitter=0.6)
    y = np.zeros(n)
    f0 = mat.f0 * v.pitch / ctx.size
    for k, ratio in enumerate(mat.ratios[:3]):
        f = f0 * ratio
        y += 0.7**k * bp(pulses, ctx.sr, f * 0.92, f * 1.08)
    hiss = unit(bp(ctx.rng.standard_normal(n), ctx.sr, lo, hi * v.bright))
    y = unit(y) + 0.5 * hiss
    y *= (0.7 + 0.3 * smooth(ctx, n, 10.0)) * (0.65 + 0.35 * smooth(ctx, n, 0.7))
    return _breakaway(ctx, y, lo, hi)


def _breakaway(ctx: Synth, y: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Static friction lets go with a burst: the contact starts audibly, on its frame."""
    y = y * (1.0 + 0.8 * exp_env(ctx, len(y), 0.04))
    add(y, burst(ctx, 0.012, lo, hi * ctx.var.bright), 0, 1.2 * float(np.max(np.abs(y))))
    return y


def _impact_family(ctx: Synth, one: RenderFn, rate_hz: float, rub: RenderFn) -> np.ndarray:
    """One hit; a series when the words ask for repetition; otherwise a continuous request
    is sustained contact (a slide) with the same material, not a stream of unasked-for hits.

    A detected impact is one contact in the picture, so it gets one hit whatever the words
    say; only an instant the editor marked ("knocking on the door") gets a short series.
    """
    if not ctx.continuous:
        return series(ctx, one, 3, 0.6 / rate_hz) if ctx.one_shot and ctx.repeated else one(ctx)
    return scatter(ctx, one, rate_hz) if ctx.repeated else rub(ctx)


def _struck(ctx: Synth, name: str, rate_hz: float, rub: tuple[float, float, float]) -> np.ndarray:
    """A material's hit, series or slide; ``rub`` is the slide's hiss band and stick-slip rate."""
    mat = _MATERIALS[name]
    return _impact_family(ctx, lambda c: _strike(c, mat), rate_hz, lambda c: _rub(c, mat, *rub))


def impact_wood(ctx: Synth) -> np.ndarray:
    return _struck(ctx, "wood", 2.5, (300.0, 3000.0, 70.0))


def impact_metal(ctx: Synth) -> np.ndarray:
    return _struck(ctx, "metal", 1.5, (1500.0, 9000.0, 160.0))


def _shatter(ctx: Synth) -> np.ndarray:
    """A glass break: the first strike, a bright crash and a shower of falling fragments."""
    size = ctx.size
    y = np.zeros(ctx.samples(1.3 * size))
    add(y, _strike(ctx, _MATERIALS["glass"]), 0, 0.7)
    add(y, burst(ctx, 0.07 * size * ctx.var.decay, 1500.0, 12000.0 * ctx.var.bright), 0, 1.0)
    times = np.sort(np.minimum(ctx.rng.exponential(0.15 * size, 45), 1.1 * size))
    for t in times:
        f = ctx.rng.uniform(2500.0, 7000.0) * ctx.var.pitch
        tau = ctx.rng.uniform(0.01, 0.05)
        ping = modes(ctx, ctx.samples(tau * 6), [f, f * 1.7], [tau, tau * 0.6], [1.0, 0.4])
        add(y, ping, int(t * ctx.sr), ctx.rng.uniform(0.1, 0.45) * math.exp(-t / 0.5))
    return y


def impact_glass(ctx: Synth) -> np.ndarray:
    glass = _MATERIALS["glass"]
    breaking = ctx.has("shatter", "break", "broke", "broken", "smash", "crash")
    if breaking and ctx.continuous and not ctx.repeated:
        return _shatter(ctx)  # a break is one event, even over a span: it starts the span
    if breaking:
        one: RenderFn = _shatter
    else:
        one = lambda c: _strike(c, glass)  # noqa: E731
    return _impact_family(ctx, one, 2.0, lambda c: _rub(c, glass, 2000.0, 10000.0, 220.0))


def _soft_hit(ctx: Synth) -> np.ndarray:
    size, v = ctx.size, ctx.var
    tau = 0.07 * v.decay * size
    y = thump(ctx, 70.0 * v.pitch / size, tau)
    y = np.concatenate([y, np.zeros(ctx.samples(0.05))])
    n = len(y)
    noise = unit(lp(ctx.rng.standard_normal(n), ctx.sr, 1000.0 * v.bright))
    y += 0.5 * noise * exp_env(ctx, n, 0.025 * v.decay)
    if ctx.has("punch", "slap", "kick", "smack", "hit"):
        add(y, burst(ctx, 0.006, 1200.0, 5000.0 * v.bright), 0, 0.45)
    if ctx.has("fall", "body", "land", "collapse", "tumble"):
        add(y, thump(ctx, 90.0 * v.pitch / size, tau * 0.7), ctx.samples(0.09 * v.timing), 0.6)
    return y


def _soft_rub(ctx: Synth) -> np.ndarray:
    """A body or cushion dragged: low, dull friction in slow swells."""
    n = ctx.n
    y = unit(bp(ctx.rng.standard_normal(n), ctx.sr, 120.0, 1500.0 * ctx.var.bright))
    crinkle = np.abs(lp(ctx.rng.standard_normal(n), ctx.sr, 30.0))
    y *= 0.5 + 0.5 * crinkle / (np.max(crinkle) + 1e-12)
    return _breakaway(ctx, y * (0.65 + 0.35 * smooth(ctx, n, 0.7)), 150.0, 1500.0)


def impact_soft(ctx: Synth) -> np.ndarray:
    return _impact_family(ctx, _soft_hit, 2.0, _soft_rub)


def crash(ctx: Synth) -> np.ndarray:
    """A crash (a car into a wall, a shelf coming down): a heavy thud, crumpling metal,
    breaking glass and debris settling, all started by one contact."""
    size, v = ctx.size, ctx.var
    y = np.zeros(ctx.samples(min(MAX_TAIL_S, 2.2 * size)))
    add(y, thump(ctx, 48.0 * v.pitch / size, 0.16 * size * v.decay, drop=1.2), 0, 1.0)
    add(y, burst(ctx, 0.03 * size, 200.0, 6000.0 * v.bright), 0, 0.9)
    metal = _MATERIALS["metal"]
    for t in np.sort(ctx.rng.exponential(0.08 * size, 9)):  # panels buckling, each damped
        f0 = ctx.rng.uniform(150.0, 600.0) * v.pitch / size
        taus = [tau * 0.15 for tau in metal.taus]
        dent = modes(ctx, ctx.samples(0.4), [f0 * r for r in metal.ratios], taus, list(metal.amps))
        add(dent, burst(ctx, 0.004, 800.0, 7000.0), 0, 0.8)
        add(y, dent, int(t * ctx.sr), ctx.rng.uniform(0.3, 0.7) * math.exp(-t / 0.4))
    if not ctx.has("wood", "wall", "tree", "fence"):
        add(y, _shatter(ctx), ctx.samples(0.02 * v.timing), 0.45)
    debris = grains(ctx, len(y), 60.0, 1200.0, 7000.0 * v.bright)
    settle = exp_env(ctx, len(y), 0.5 * size) * (1.0 - exp_env(ctx, len(y), 0.08))
    return y + 0.25 * debris * settle
