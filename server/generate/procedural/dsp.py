"""DSP helpers shared by the families: filters, envelopes, noises, modes and event scatter.

Each is small and vectorised; all randomness comes from the ``Synth``'s generator, so a
family built from them stays deterministic for a seed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy import signal

from .synth import RenderFn, Synth

SPEED_OF_SOUND = 343.0  # m/s


@lru_cache(maxsize=512)
def _sos(kind: str, lo: float, hi: float, sr: int, order: int) -> np.ndarray:
    top = 0.45 * sr
    if kind == "lp":
        return signal.butter(order, min(hi, top), btype="lowpass", fs=sr, output="sos")
    if kind == "hp":
        return signal.butter(order, min(lo, top * 0.9), btype="highpass", fs=sr, output="sos")
    hi = min(hi, top)
    lo = min(max(lo, 10.0), hi / 1.2)
    return signal.butter(order, [lo, hi], btype="bandpass", fs=sr, output="sos")


def sos_filter(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``sosfilt`` with a -500 dB DC-plus-Nyquist floor added to the input.

    Decaying tails otherwise end in subnormal numbers, which make the filter 30x slower.
    """
    floor = np.zeros(len(x))
    floor[::2] = 2e-25
    return signal.sosfilt(sos, x + floor)


def bp(x: np.ndarray, sr: int, lo: float, hi: float, order: int = 2) -> np.ndarray:
    return sos_filter(_sos("bp", round(lo, 1), round(hi, 1), sr, order), x)


def lp(x: np.ndarray, sr: int, hi: float, order: int = 2) -> np.ndarray:
    return sos_filter(_sos("lp", 0.0, round(hi, 1), sr, order), x)


def hp(x: np.ndarray, sr: int, lo: float, order: int = 2) -> np.ndarray:
    return sos_filter(_sos("hp", round(lo, 1), 0.0, sr, order), x)


def unit(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return x / peak if peak > 0 else x


def exp_env(ctx: Synth, n: int, tau: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (max(tau, 1e-4) * ctx.sr))


def add(y: np.ndarray, x: np.ndarray, at: int, gain: float = 1.0) -> None:
    """Mix ``x`` into ``y`` from sample ``at``, cutting whatever falls past the end."""
    if at >= len(y) or at < 0:
        return
    m = min(len(x), len(y) - at)
    y[at : at + m] += gain * x[:m]


def burst(ctx: Synth, tau: float, lo: float, hi: float) -> np.ndarray:
    """A band of noise that starts at full level and decays: contact clicks, cracks, spray."""
    n = ctx.samples(tau * 7 + 0.002)
    return unit(bp(ctx.rng.standard_normal(n), ctx.sr, lo, hi) * exp_env(ctx, n, tau))


def modes(
    ctx: Synth, n: int, freqs: list[float], taus: list[float], amps: list[float]
) -> np.ndarray:
    """Damped sinusoids: the ringing of a struck object (modal synthesis).

    Each mode is a two-pole resonator's impulse response, r^k sin(wk + phase), which a
    recursive filter computes several times faster than exp() and sin().
    """
    y = np.zeros(n)
    phases = ctx.rng.uniform(0.0, 2 * np.pi, len(freqs))
    for f, tau, a, ph in zip(freqs, taus, amps, phases, strict=False):
        if f < 20.0 or f > 0.45 * ctx.sr or a == 0.0:
            continue
        m = min(n, int(tau * 7 * ctx.sr) + 1)
        w = 2 * np.pi * f / ctx.sr
        r = math.exp(-1.0 / (tau * ctx.sr))
        impulse = np.zeros(m)
        impulse[0] = a
        b_coef = [math.sin(ph), r * math.sin(w - ph)]
        y[:m] += signal.lfilter(b_coef, [1.0, -2 * r * math.cos(w), r * r], impulse)
    return y


def thump(ctx: Synth, f0: float, tau: float, drop: float = 0.8) -> np.ndarray:
    """A low sine whose pitch falls just after contact: the body of a thud or a kick."""
    n = ctx.samples(tau * 7)
    t = np.arange(n) / ctx.sr
    f = f0 * (1.0 + drop * np.exp(-t / 0.012))
    return np.sin(2 * np.pi * np.cumsum(f) / ctx.sr) * np.exp(-t / tau)


def smooth(ctx: Synth, n: int, rate_hz: float) -> np.ndarray:
    """A slow random curve in [-1, 1]: gusts, level drift, pitch wander."""
    points = max(2, int(n / ctx.sr * rate_hz) + 2)
    knots = ctx.rng.uniform(-1.0, 1.0, points)
    x = np.linspace(0.0, points - 1.0, n)
    i = np.minimum(x.astype(int), points - 2)
    frac = x - i
    frac = frac * frac * (3 - 2 * frac)  # smoothstep: no kinks at the knots
    return knots[i] * (1 - frac) + knots[i + 1] * frac


def pink(ctx: Synth, n: int) -> np.ndarray:
    """1/f noise by spectral shaping: the even hiss of air and rooms."""
    m = sfft.next_fast_len(n, real=True)
    spec = sfft.rfft(ctx.rng.standard_normal(m))
    f = np.arange(spec.size, dtype=float)
    f[0] = 1.0
    spec /= np.sqrt(f)
    spec[0] = 0.0
    x = sfft.irfft(spec, m)[:n]
    return x / (np.std(x) + 1e-12)


def spectral_noise(ctx: Synth, n: int, gains: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    """Noise whose spectrum changes over time: ``gains(times_s, freqs_hz)`` -> (frames, bins).

    Random spectra shaped per frame (each frame at the same power) and overlap-added (Hann,
    75 % overlap), far cheaper than a filter whose coefficients move sample by sample.
    """
    nfft = 1024 if ctx.sr >= 32_000 else 512
    hop = nfft // 4
    frames = (n + nfft) // hop + 1
    freqs = np.fft.rfftfreq(nfft, 1.0 / ctx.sr)
    times = (np.arange(frames) * hop - nfft / 2) / ctx.sr
    g = gains(times, freqs)
    g = g / np.sqrt(np.sum(g * g, axis=1, keepdims=True) + 1e-12)  # loudness is the caller's
    spec = ctx.rng.standard_normal(g.shape) + 1j * ctx.rng.standard_normal(g.shape)
    blocks = np.fft.irfft(spec * g, nfft, axis=1) * signal.get_window("hann", nfft)
    out = np.zeros((frames + 3) * hop)
    for j in range(4):
        out[j * hop : j * hop + frames * hop] += blocks[:, j * hop : (j + 1) * hop].reshape(-1)
    x = out[nfft : nfft + n]
    return x / (np.std(x) + 1e-12)


def band(freqs: np.ndarray, centers: np.ndarray, width_oct: float | np.ndarray) -> np.ndarray:
    """Gaussian bands on a log-frequency axis, one row per frame (width per frame or fixed)."""
    lf = np.log2(np.maximum(freqs, 1.0))[None, :]
    width = np.broadcast_to(np.asarray(width_oct, dtype=float), np.shape(centers))[:, None]
    return np.exp(-0.5 * ((lf - np.log2(centers)[:, None]) / width) ** 2)


def pulse_train(ctx: Synth, rate_hz: np.ndarray, jitter: float = 0.3) -> np.ndarray:
    """Impulses at a varying rate (stick-slip friction, creaks); the first one at sample 0."""
    phase = np.cumsum(rate_hz) / ctx.sr
    idx = np.flatnonzero(np.diff(np.floor(phase)) > 0) + 1
    x = np.zeros(len(rate_hz))
    x[idx] = ctx.rng.uniform(1.0 - jitter, 1.0, idx.size)
    x[0] = 1.0
    return x


def grains(ctx: Synth, n: int, rate_hz: float, lo: float, hi: float) -> np.ndarray:
    """Sparse random clicks through a band: gravel crunch, paper crackle, rain on a surface."""
    count = ctx.rng.poisson(rate_hz * n / ctx.sr)
    x = np.zeros(n)
    pos = ctx.rng.integers(0, n, count)
    np.add.at(x, pos, ctx.rng.uniform(0.2, 1.0, count) * ctx.rng.choice([-1.0, 1.0], count))
    x[0] = 1.0
    return unit(bp(x, ctx.sr, lo, hi))


def scatter(ctx: Synth, one: RenderFn, rate_hz: float, spread: float = 0.4) -> np.ndarray:
    """Fill ``ctx.n`` with repeats of a one-shot at an irregular rate (hammering, clinking).

    Each repeat gets its own small nudge, so a sequence never sounds machine-gunned.
    """
    y = np.zeros(ctx.n)
    t = ctx.rng.uniform(0.01, 0.03)  # the first hit starts the event
    while t < ctx.n / ctx.sr:
        sub = dataclasses.replace(ctx, continuous=False, var=ctx.var.nudged(ctx.rng), n=0)
        add(y, one(sub), int(t * ctx.sr), ctx.rng.uniform(0.7, 1.0))
        t += ctx.var.timing * ctx.rng.uniform(1 - spread, 1 + spread) / rate_hz
    return y


def series(
    ctx: Synth, one: RenderFn, count: int, interval_s: float, spread: float = 0.15
) -> np.ndarray:
    """``count`` repeats of a one-shot, the first and loudest at sample 0, about ``interval_s``
    apart: a knock-knock-knock, a burst of shots, a double honk asked for as one instant."""
    parts = []
    t = 0.0
    for k in range(count):
        sub = dataclasses.replace(ctx, continuous=False, var=ctx.var.nudged(ctx.rng), n=0)
        gain = 1.0 if k == 0 else ctx.rng.uniform(0.75, 0.95)
        parts.append((int(t * ctx.sr), one(sub), gain))
        t += ctx.var.timing * interval_s * ctx.rng.uniform(1 - spread, 1 + spread)
    y = np.zeros(max(at + len(x) for at, x, _ in parts))
    for at, x, gain in parts:
        add(y, x, at, gain)
    return y


def shape_texture(ctx: Synth, y: np.ndarray, crest: float | None = 4.0) -> np.ndarray:
    """A sustained texture asked for as a one-shot: immediate start, decaying last third.

    A soft limit to ``crest`` times the RMS keeps a rare loud grain (one big raindrop) from
    making the start of the texture sit below the onset threshold.
    """
    if ctx.continuous:
        return y
    if crest:
        ceiling = crest * float(np.sqrt(np.mean(y * y)) + 1e-12)
        y = ceiling * np.tanh(y / ceiling)
    n = len(y)
    env = np.ones(n)
    tail = n // 3
    env[n - tail :] = np.cos(np.linspace(0.0, np.pi / 2, tail)) ** 2
    ramp = min(n, ctx.samples(0.003))
    env[:ramp] *= np.linspace(0.3, 1.0, ramp)
    return y * env


@dataclass(frozen=True)
class PassBy:
    """A source going by on a straight line, closest at the middle of ``n`` samples.

    Its level follows the distance (1/r) and its pitch the rate the distance changes (Doppler):
    it approaches louder and higher, is loudest at the centre, and recedes lower and fainter.
    The speed is chosen so that the ends of the event are ``edge_ratio`` times farther than the
    closest point, so any length holds a whole approach and recede.
    """

    sr: int
    n: int
    closest_m: float
    speed_mps: float

    @classmethod
    def spanning(
        cls, ctx: Synth, n: int, closest_m: float, edge_ratio: float = 4.0, max_speed: float = 60.0
    ) -> PassBy:
        half_s = max(n / 2 / ctx.sr, 1e-3)
        return cls(ctx.sr, n, closest_m, min(max_speed, edge_ratio * closest_m / half_s))

    def distance(self, t_s: np.ndarray) -> np.ndarray:
        return np.hypot(self.closest_m, self.speed_mps * (t_s - self.n / 2 / self.sr))

    @property
    def lead(self) -> int:
        """Samples of source needed before the listener's first sample (the longest delay)."""
        far = float(self.distance(np.zeros(1))[0]) - self.closest_m
        return int(math.ceil(far / SPEED_OF_SOUND * self.sr)) + 1

    def proximity(self, source_t_s: np.ndarray) -> np.ndarray:
        """1 at the closest point, falling towards 0 far away; ``source_t_s`` in source time."""
        return self.closest_m / self.distance(source_t_s - self.lead / self.sr)

    def render(self, source: np.ndarray) -> np.ndarray:
        """Hear ``source`` (``n + lead`` samples, emitted as it moves) from the listener."""
        t = np.arange(self.n) / self.sr
        r = self.distance(t)
        delay = (r - self.closest_m) / SPEED_OF_SOUND * self.sr
        heard = np.interp(np.arange(self.n) + self.lead - delay, np.arange(len(source)), source)
        return heard * (self.closest_m / r)
