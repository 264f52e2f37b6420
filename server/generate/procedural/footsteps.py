"""Footsteps: heel then toe on a surface the words name (concrete by default), or a walk."""

from __future__ import annotations

import dataclasses

import numpy as np

from .dsp import (
    add,
    burst,
    exp_env,
    grains,
    modes,
    thump,
)
from .synth import Synth

_SURFACES: dict[str, tuple[str, ...]] = {
    "gravel": ("gravel", "stone", "pebble", "rock", "dirt", "path", "sand", "rubble"),
    "wood": ("wood", "floorboard", "plank", "deck", "boardwalk", "porch", "stair"),
    "grass": ("grass", "leaf", "leaves", "forest", "mud", "lawn", "field", "bush", "undergrowth"),
    "snow": ("snow", "ice", "frost"),
    "metal": ("metal", "steel", "iron", "grate", "catwalk", "ladder"),
    "concrete": ("concrete", "pavement", "asphalt", "street", "sidewalk", "tile", "marble"),
}


def _surface(ctx: Synth) -> str:
    for name, words in _SURFACES.items():
        if ctx.has(*words):
            return name
    return "concrete"


def _footfall(ctx: Synth, surface: str, gain: float) -> np.ndarray:
    """One part of a step (heel or toe) on a surface."""
    v = ctx.var
    if surface == "gravel":
        n = ctx.samples(0.16)
        y = grains(ctx, n, 900.0, 1200.0, 7000.0 * v.bright) * exp_env(ctx, n, 0.05 * v.decay)
        add(y, burst(ctx, 0.02, 80.0, 400.0), 0, 0.5)
    elif surface == "grass":
        n = ctx.samples(0.18)
        y = grains(ctx, n, 500.0, 2000.0, 8000.0 * v.bright) * exp_env(ctx, n, 0.06 * v.decay)
        add(y, burst(ctx, 0.04, 1500.0, 8000.0), 0, 0.4)
    elif surface == "snow":
        n = ctx.samples(0.2)
        y = grains(ctx, n, 1500.0, 600.0, 3500.0 * v.bright) * exp_env(ctx, n, 0.08 * v.decay)
        add(y, thump(ctx, 80.0 * v.pitch, 0.03), 0, 0.4)
    elif surface == "wood":
        f1 = 135.0 * v.pitch
        y = modes(ctx, ctx.samples(0.3), [f1, f1 * 2.3], [0.06 * v.decay, 0.03], [0.8, 0.3])
        add(y, burst(ctx, 0.008, 200.0, 3000.0 * v.bright), 0, 0.9)
    else:  # concrete, metal
        y = burst(ctx, 0.010 * v.decay, 250.0, 4500.0 * v.bright)
        y = np.concatenate([y, np.zeros(ctx.samples(0.05))])
        add(y, thump(ctx, 120.0 * v.pitch, 0.02), 0, 0.5)
        if surface == "metal":
            f1 = 420.0 * v.pitch
            ring = modes(
                ctx, ctx.samples(0.4), [f1, f1 * 2.4, f1 * 4.1], [0.25, 0.15, 0.08], [1, 0.6, 0.3]
            )
            y = np.concatenate([y, np.zeros(max(0, len(ring) - len(y)))])
            add(y, ring, 0, 0.4)
    return gain * y


def _step(ctx: Synth) -> np.ndarray:
    """Heel then toe, 55-95 ms apart."""
    surface = _surface(ctx)
    heel = _footfall(ctx, surface, 1.0)
    toe = _footfall(ctx, surface, 0.55)
    gap = ctx.samples(0.075 * ctx.var.timing * ctx.rng.uniform(0.9, 1.1))
    y = np.zeros(max(len(heel), gap + len(toe)))
    add(y, heel, 0)
    add(y, toe, gap)
    return y


def footsteps(ctx: Synth) -> np.ndarray:
    if not ctx.continuous:
        return _step(ctx)
    if ctx.has("run", "jog", "sprint", "hurry", "rush"):
        interval = 0.32
    elif ctx.has("slow", "creep", "sneak", "tiptoe"):
        interval = 0.72
    else:
        interval = 0.52
    y = np.zeros(ctx.n)
    t = ctx.rng.uniform(0.02, 0.1)
    foot = 0
    while t < ctx.n / ctx.sr:
        sub = dataclasses.replace(ctx, continuous=False, var=ctx.var.nudged(ctx.rng, 0.3))
        gain = (1.0 if foot % 2 == 0 else 0.85) * ctx.rng.uniform(0.9, 1.05)
        add(y, _step(sub), int(t * ctx.sr), gain)
        t += interval * ctx.var.timing * ctx.rng.uniform(0.97, 1.03)
        foot += 1
    return y
