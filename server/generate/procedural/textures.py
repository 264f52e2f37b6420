"""Textures: fire, wind, rain, engine and room tone; asked for as one-shots they start at
once and decay over their last third."""

from __future__ import annotations

import numpy as np

from .dsp import (
    PassBy,
    add,
    band,
    bp,
    burst,
    hp,
    lp,
    pink,
    shape_texture,
    smooth,
    spectral_noise,
    unit,
)
from .synth import MAX_TAIL_S, Synth


def _texture_length(ctx: Synth) -> int:
    return ctx.length(1.5, 0.4, MAX_TAIL_S)


def fire(ctx: Synth) -> np.ndarray:
    n = _texture_length(ctx)
    v = ctx.var
    roar = unit(lp(ctx.rng.standard_normal(n), ctx.sr, 300.0 * v.bright, order=4))
    roar *= 0.6 + 0.4 * smooth(ctx, n, 2.0)
    hiss = unit(bp(ctx.rng.standard_normal(n), ctx.sr, 2500.0, 9000.0 * v.bright))
    hiss *= 0.5 + 0.5 * smooth(ctx, n, 6.0)
    rate = 18.0 if ctx.has("crackle", "campfire", "fireplace", "log", "ember") else 10.0
    crackle = np.zeros(n)
    for lo, hi in ((800.0, 2500.0), (2000.0, 6000.0), (4000.0, 10000.0)):
        pops = np.zeros(n)
        count = ctx.rng.poisson(rate / 3 * n / ctx.sr)
        starts = ctx.rng.integers(0, n, count)
        for k in range(3):  # a crackle is a quick cluster of pops
            at = np.minimum(
                starts + ctx.rng.integers(0, ctx.samples(0.005), count) * (k > 0), n - 1
            )
            np.add.at(pops, at, (ctx.rng.pareto(3.0, count) + 0.3) * (0.6**k))
        crackle += bp(pops, ctx.sr, lo, hi * v.bright)
    if not ctx.continuous:
        pop = burst(ctx, 0.002, 1000.0, 6000.0)
        add(crackle, pop, 0, 1.5 * (np.max(np.abs(crackle)) + 1e-3) / (np.max(np.abs(pop)) + 1e-9))
    y = 0.35 * roar + 0.08 * hiss + unit(crackle)
    return shape_texture(ctx, y, crest=None)  # the pops are the point


def wind(ctx: Synth) -> np.ndarray:
    n = _texture_length(ctx)
    if ctx.has("strong", "howl", "storm", "gale", "heavy", "blizzard"):
        strength = 1.5
    elif ctx.has("light", "gentle", "breeze", "soft"):
        strength = 0.6
    else:
        strength = 1.0
    gust = np.clip(0.55 + 0.45 * smooth(ctx, n, 0.25), 0.05, 1.0) ** strength
    if not ctx.continuous:
        gust = 0.5 + 0.5 * gust  # a gust asked for as one event starts audibly
    bright = ctx.var.bright

    def gains(times: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        g = np.interp(times, np.arange(n) / ctx.sr, gust)
        body = band(freqs, (300.0 + 500.0 * g * strength) * bright, 1.2)
        whistle = band(freqs, (700.0 + 900.0 * g * strength) * bright, 0.06)
        return body + 0.25 * strength * whistle

    y = spectral_noise(ctx, n, gains) * gust
    rumble = unit(lp(ctx.rng.standard_normal(n), ctx.sr, 120.0))
    y += 0.5 * rumble * (0.5 + 0.5 * gust)
    return shape_texture(ctx, y)


def rain(ctx: Synth) -> np.ndarray:
    n = _texture_length(ctx)
    v = ctx.var
    if ctx.has("heavy", "storm", "downpour", "pour", "torrential", "thunderstorm"):
        density, bed_gain = 900.0, 0.45
    elif ctx.has("light", "drizzle", "gentle", "soft"):
        density, bed_gain = 60.0, 0.1
    else:
        density, bed_gain = 250.0, 0.25
    bed = lp(hp(pink(ctx, n), ctx.sr, 400.0), ctx.sr, 9000.0 * v.bright)
    drops = np.zeros(n)
    for lo, hi in ((1800.0, 3200.0), (3500.0, 6500.0), (600.0, 1400.0)):
        imp = np.zeros(n)
        count = ctx.rng.poisson(density / 3 * n / ctx.sr)
        np.add.at(imp, ctx.rng.integers(0, n, count), ctx.rng.uniform(0.2, 1.0, count) ** 2)
        drops += bp(imp, ctx.sr, lo * v.pitch, hi * v.pitch * v.bright)
    y = bed_gain * unit(bed) + unit(drops)
    return shape_texture(ctx, y)


def _engine_tone(ctx: Synth, n: int) -> np.ndarray:
    """``n`` samples of a running engine (or an electric motor): harmonics of the firing rate."""
    v = ctx.var
    motor = ctx.has("motor", "electric", "fan", "drill", "whine", "buzz", "servo", "blender")
    f0 = (110.0 if motor else 32.0 / ctx.size) * v.pitch
    f = f0 * (1.0 + 0.015 * smooth(ctx, n, 1.5))
    if ctx.has("rev", "accelerate", "race", "speed"):
        f *= np.linspace(1.0, 2.5, n) ** 0.8
    phase = 2 * np.pi * np.cumsum(f) / ctx.sr
    z = np.exp(1j * phase)
    zk = z.copy()
    y = np.zeros(n)
    harmonics = 6 if motor else 10
    for k in range(1, harmonics + 1):  # sin(k*phase) by complex powers: no sin per harmonic
        a = k**-0.8 * ctx.rng.uniform(0.6, 1.0) * v.bright ** (k / 3)
        if k * f0 < 0.45 * ctx.sr:
            y += a * (zk * np.exp(1j * ctx.rng.uniform(0, 2 * np.pi))).imag
        zk *= z
    if motor:
        y += 0.2 * np.sin(9.0 * phase)
        y += 0.05 * unit(hp(ctx.rng.standard_normal(n), ctx.sr, 3000.0))
    else:
        firing = (0.5 + 0.5 * np.cos(phase)) ** 4
        y += 0.8 * unit(lp(ctx.rng.standard_normal(n), ctx.sr, 1500.0 * v.bright)) * firing
    return lp(y, ctx.sr, 5000.0)


def _drive_by(ctx: Synth) -> np.ndarray:
    """A vehicle going past: the engine heard through a pass-by, duller while it is far."""
    path = PassBy.spanning(ctx, ctx.n, closest_m=4.0 * ctx.size, edge_ratio=ctx.passby_edges)
    source = _engine_tone(ctx, ctx.n + path.lead)
    near = path.proximity(np.arange(len(source)) / ctx.sr)
    source = near * source + (1.0 - near) * lp(source, ctx.sr, 700.0)  # air takes the highs
    return path.render(source)


def engine(ctx: Synth) -> np.ndarray:
    if ctx.continuous and ctx.passing:
        return _drive_by(ctx)
    return shape_texture(ctx, _engine_tone(ctx, _texture_length(ctx)))


def room_tone(ctx: Synth) -> np.ndarray:
    n = _texture_length(ctx)
    v = ctx.var
    air = lp(pink(ctx, n), ctx.sr, 3500.0 * v.bright)
    rumble = unit(lp(ctx.rng.standard_normal(n), ctx.sr, 90.0))
    y = unit(air) + 0.6 * rumble
    if ctx.has("exterior", "outdoor", "outside", "city", "street", "traffic", "park", "urban"):
        distant = unit(lp(ctx.rng.standard_normal(n), ctx.sr, 250.0))
        y += 0.8 * distant * (0.6 + 0.4 * smooth(ctx, n, 0.1))
    if ctx.has("hum", "hvac", "air", "fridge", "fluorescent", "electric", "buzz", "server"):
        tt = np.arange(n) / ctx.sr
        for k, g in ((1, 0.08), (2, 0.05), (3, 0.03)):
            y += g * np.sin(2 * np.pi * 60.0 * k * tt)
    y *= 1.0 + 0.08 * smooth(ctx, n, 0.2)
    return shape_texture(ctx, y)
