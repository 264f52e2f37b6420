"""Procedural Foley: small parametric synthesis presets chosen by the words of the prompt.

Needs no model and no library, so the pipeline always has a sound to place. Every preset is
one numpy/scipy function, deterministic for a request's seed; the seed only nudges pitch,
decay, brightness and timing by a few percent, so repeats vary without becoming another prop.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy import signal

from sonicvision.errors import ConfigError, RenderError

from .base import Generator, RenderedSound, SoundRequest

logger = logging.getLogger(__name__)

PRE_ROLL_S = 0.005  # silence before a one-shot's attack, so the onset is measurable
MAX_TAIL_S = 3.0  # one-shots never ring longer than this
MAX_PEAK = 0.9
ATTACK_RAMP_S = 0.0002  # declicks sample 0 without moving the measurable onset
FADE_IN_S = 0.015  # continuous sounds: declicked, but still starting on their frame
FADE_OUT_S = 0.08

# --------------------------------------------------------------------------------------------
# Words: the normaliser shared with the library backend
# --------------------------------------------------------------------------------------------

_STOPWORDS = frozenset(
    """a an the and or but of to is are was were be been being it its this that these those
    some any his her him their them our my your someone something somebody one very slightly
    really then while as just lot lots few couple""".split()
)
# Words after one of these usually name the surface or the place, not the sound's source.
_CONTEXT_WORDS = frozenset(
    """on onto in into at against across over through along upon off from with under inside
    behind near by towards toward down up""".split()
)
CONTEXT_WEIGHT = 0.6

# Spellings that mean the same thing (true synonyms only; "slam means door" lives in presets).
_SAME_AS = {
    "footstep": "step",
    "walk": "step",
    "tread": "step",
    "stride": "step",
    "stroll": "step",
    "tiptoe": "step",
    "stomp": "step",
    "swoosh": "whoosh",
    "woosh": "whoosh",
    "swish": "whoosh",
    "swoop": "whoosh",
    "ambiance": "ambience",
    "ambient": "ambience",
    "atmo": "ambience",
    "atmos": "ambience",
    "atmosphere": "ambience",
    "splosh": "splash",
    "tinkle": "clink",
    "wooden": "wood",
    "metallic": "metal",
    "glassy": "glass",
    "raindrop": "rain",
    "rainfall": "rain",
}


def stem(word: str) -> str:
    """A deliberately small stemmer: plurals, -ing, -ed, a final e and doubled consonants."""
    w = word.lower()
    if len(w) > 4 and w.endswith("ing") and re.search(r"[aeiouy]", w[:-3]):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ied"):
        w = w[:-3] + "y"
    elif (
        len(w) > 3 and w.endswith("ed") and not w.endswith("eed") and re.search(r"[aeiouy]", w[:-2])
    ):
        w = w[:-2]
    elif len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeioulsz":
        w = w[:-1]
    if len(w) > 3 and w.endswith("e") and not w.endswith("ee"):
        w = w[:-1]
    return w


_CANON = {stem(k): stem(v) for k, v in _SAME_AS.items()}
_REPEAT_WORDS = frozenset(
    "repeated repeatedly repeating series several multiple many rapid rhythmic again".split()
)
_HIT_VERBS = frozenset(
    stem(w)
    for w in """knock hammer tap bang clink clang clank pound drum rattle chop hit strike thud
    thump clack slap punch""".split()
)


@lru_cache(maxsize=4096)
def normalize_word(word: str) -> str:
    """The matching form of one word: stemmed, then mapped onto its canonical synonym."""
    s = stem(word)
    return _CANON.get(s, s)


def _weighted_words(text: str) -> list[tuple[str, float]]:
    """Content words with weight 1, or CONTEXT_WEIGHT once a preposition has been seen."""
    out: list[tuple[str, float]] = []
    weight = 1.0
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in _CONTEXT_WORDS:
            weight = CONTEXT_WEIGHT
        elif word not in _STOPWORDS and len(word) > 1:
            out.append((normalize_word(word), weight))
    return out


def tokenize(text: str) -> list[str]:
    """Normalised content words of a prompt or a file name, in order (duplicates kept)."""
    return [w for w, _ in _weighted_words(text)]


# --------------------------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variation:
    """Per-seed nudges of a few percent each: different takes of the same prop."""

    pitch: float = 1.0
    decay: float = 1.0
    bright: float = 1.0
    timing: float = 1.0

    @classmethod
    def draw(cls, rng: np.random.Generator, amount: float = 1.0) -> Variation:
        u = rng.uniform(-1.0, 1.0, 4) * amount
        return cls(
            pitch=2.0 ** (u[0] * 0.6 / 12.0),  # +-0.6 semitone, about 3.5 %
            decay=1.0 + 0.08 * u[1],
            bright=1.0 + 0.10 * u[2],
            timing=1.0 + 0.05 * u[3],
        )

    def nudged(self, rng: np.random.Generator, amount: float = 0.4) -> Variation:
        d = Variation.draw(rng, amount)
        return Variation(
            self.pitch * d.pitch,
            self.decay * d.decay,
            self.bright * d.bright,
            self.timing * d.timing,
        )


@dataclass
class Synth:
    """What a preset function gets: rate, requested length, mode, randomness and the words."""

    sr: int
    n: int  # requested length in samples; a continuous render returns exactly this many
    continuous: bool
    rng: np.random.Generator
    var: Variation = field(default_factory=Variation)
    words: frozenset[str] = frozenset()
    raw: frozenset[str] = frozenset()  # the prompt's words as written, lower-cased

    def has(self, *words: str) -> bool:
        return any(normalize_word(w) in self.words for w in words)

    def samples(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.sr)))

    def length(self, default_s: float, lo: float, hi: float) -> int:
        """Length of a gesture (whoosh, scrape): the requested one clamped to what sounds right."""
        if self.continuous:
            return self.n
        seconds = self.n / self.sr if self.n > 0 else default_s
        return self.samples(min(hi, max(lo, seconds)))

    @property
    def repeated(self) -> bool:
        """The prompt asks for a series of hits ("knocking", "hammers", "taps repeatedly")."""
        return any(
            w in _REPEAT_WORDS or (w.endswith(("ing", "s")) and stem(w) in _HIT_VERBS)
            for w in self.raw
        )

    @property
    def size(self) -> float:
        """Above 1 for big or heavy props (lower, longer), below 1 for small ones."""
        if self.has("huge", "giant", "massive", "enormous"):
            return 1.6
        if self.has("big", "large", "heavy", "thick"):
            return 1.3
        if self.has("small", "tiny", "little", "light", "thin", "delicate"):
            return 0.77
        return 1.0


RenderFn = Callable[[Synth], np.ndarray]


@dataclass(frozen=True)
class Preset:
    """A named sound family: the words that choose it and the function that synthesises it.

    ``keywords`` maps plain words to weights; ``render`` returns mono audio whose attack is
    sample 0 for one-shots, or exactly ``Synth.n`` samples when continuous.
    """

    name: str
    keywords: Mapping[str, float]
    continuous_default: bool
    render: RenderFn
    level_db: float = -1.0  # peak level of the finished sound
    description: str = ""
    _index: Mapping[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, float] = {}
        for word, weight in self.keywords.items():
            key = normalize_word(word)
            index[key] = max(weight, index.get(key, 0.0))
        object.__setattr__(self, "_index", index)

    def score(self, weighted: list[tuple[str, float]]) -> float:
        """Sum of keyword weights over the prompt's (normalised, position-weighted) words."""
        return sum(w * self._index.get(word, 0.0) for word, w in weighted)


# --------------------------------------------------------------------------------------------
# DSP helpers
# --------------------------------------------------------------------------------------------


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


def _filter(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``sosfilt`` with a -500 dB DC-plus-Nyquist floor added to the input.

    Decaying tails otherwise end in subnormal numbers, which make the filter 30x slower.
    """
    floor = np.zeros(len(x))
    floor[::2] = 2e-25
    return signal.sosfilt(sos, x + floor)


def _bp(x: np.ndarray, sr: int, lo: float, hi: float, order: int = 2) -> np.ndarray:
    return _filter(_sos("bp", round(lo, 1), round(hi, 1), sr, order), x)


def _lp(x: np.ndarray, sr: int, hi: float, order: int = 2) -> np.ndarray:
    return _filter(_sos("lp", 0.0, round(hi, 1), sr, order), x)


def _hp(x: np.ndarray, sr: int, lo: float, order: int = 2) -> np.ndarray:
    return _filter(_sos("hp", round(lo, 1), 0.0, sr, order), x)


def _unit(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return x / peak if peak > 0 else x


def _exp_env(ctx: Synth, n: int, tau: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (max(tau, 1e-4) * ctx.sr))


def _add(y: np.ndarray, x: np.ndarray, at: int, gain: float = 1.0) -> None:
    """Mix ``x`` into ``y`` from sample ``at``, cutting whatever falls past the end."""
    if at >= len(y) or at < 0:
        return
    m = min(len(x), len(y) - at)
    y[at : at + m] += gain * x[:m]


def _burst(ctx: Synth, tau: float, lo: float, hi: float) -> np.ndarray:
    """A band of noise that starts at full level and decays: contact clicks, cracks, spray."""
    n = ctx.samples(tau * 7 + 0.002)
    return _unit(_bp(ctx.rng.standard_normal(n), ctx.sr, lo, hi) * _exp_env(ctx, n, tau))


def _modes(
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


def _thump(ctx: Synth, f0: float, tau: float, drop: float = 0.8) -> np.ndarray:
    """A low sine whose pitch falls just after contact: the body of a thud or a kick."""
    n = ctx.samples(tau * 7)
    t = np.arange(n) / ctx.sr
    f = f0 * (1.0 + drop * np.exp(-t / 0.012))
    return np.sin(2 * np.pi * np.cumsum(f) / ctx.sr) * np.exp(-t / tau)


def _smooth(ctx: Synth, n: int, rate_hz: float) -> np.ndarray:
    """A slow random curve in [-1, 1]: gusts, level drift, pitch wander."""
    points = max(2, int(n / ctx.sr * rate_hz) + 2)
    knots = ctx.rng.uniform(-1.0, 1.0, points)
    x = np.linspace(0.0, points - 1.0, n)
    i = np.minimum(x.astype(int), points - 2)
    frac = x - i
    frac = frac * frac * (3 - 2 * frac)  # smoothstep: no kinks at the knots
    return knots[i] * (1 - frac) + knots[i + 1] * frac


def _pink(ctx: Synth, n: int) -> np.ndarray:
    """1/f noise by spectral shaping: the even hiss of air and rooms."""
    m = sfft.next_fast_len(n, real=True)
    spec = sfft.rfft(ctx.rng.standard_normal(m))
    f = np.arange(spec.size, dtype=float)
    f[0] = 1.0
    spec /= np.sqrt(f)
    spec[0] = 0.0
    x = sfft.irfft(spec, m)[:n]
    return x / (np.std(x) + 1e-12)


def _spectral_noise(ctx: Synth, n: int, gains: Callable[[np.ndarray, np.ndarray], np.ndarray]):
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


def _band(freqs: np.ndarray, centers: np.ndarray, width_oct: float | np.ndarray) -> np.ndarray:
    """Gaussian bands on a log-frequency axis, one row per frame (width per frame or fixed)."""
    lf = np.log2(np.maximum(freqs, 1.0))[None, :]
    width = np.broadcast_to(np.asarray(width_oct, dtype=float), np.shape(centers))[:, None]
    return np.exp(-0.5 * ((lf - np.log2(centers)[:, None]) / width) ** 2)


def _pulses(ctx: Synth, rate_hz: np.ndarray, jitter: float = 0.3) -> np.ndarray:
    """Impulses at a varying rate (stick-slip friction, creaks); the first one at sample 0."""
    phase = np.cumsum(rate_hz) / ctx.sr
    idx = np.flatnonzero(np.diff(np.floor(phase)) > 0) + 1
    x = np.zeros(len(rate_hz))
    x[idx] = ctx.rng.uniform(1.0 - jitter, 1.0, idx.size)
    x[0] = 1.0
    return x


def _grains(ctx: Synth, n: int, rate_hz: float, lo: float, hi: float) -> np.ndarray:
    """Sparse random clicks through a band: gravel crunch, paper crackle, rain on a surface."""
    count = ctx.rng.poisson(rate_hz * n / ctx.sr)
    x = np.zeros(n)
    pos = ctx.rng.integers(0, n, count)
    np.add.at(x, pos, ctx.rng.uniform(0.2, 1.0, count) * ctx.rng.choice([-1.0, 1.0], count))
    x[0] = 1.0
    return _unit(_bp(x, ctx.sr, lo, hi))


def _scatter(ctx: Synth, one: RenderFn, rate_hz: float, spread: float = 0.4) -> np.ndarray:
    """Fill ``ctx.n`` with repeats of a one-shot at an irregular rate (hammering, clinking).

    Each repeat gets its own small nudge, so a sequence never sounds machine-gunned.
    """
    y = np.zeros(ctx.n)
    t = ctx.rng.uniform(0.01, 0.03)  # the first hit starts the event
    while t < ctx.n / ctx.sr:
        sub = dataclasses.replace(ctx, continuous=False, var=ctx.var.nudged(ctx.rng), n=0)
        _add(y, one(sub), int(t * ctx.sr), ctx.rng.uniform(0.7, 1.0))
        t += ctx.var.timing * ctx.rng.uniform(1 - spread, 1 + spread) / rate_hz
    return y


def _shape_texture(ctx: Synth, y: np.ndarray, crest: float | None = 4.0) -> np.ndarray:
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


# --------------------------------------------------------------------------------------------
# Impacts
# --------------------------------------------------------------------------------------------


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
    y = _modes(ctx, n, freqs, taus, amps)
    lo, hi, tau, gain = mat.click
    _add(y, _burst(ctx, tau, lo, hi * v.bright), 0, gain)
    f, tau, gain = mat.thump
    if gain:
        _add(y, _thump(ctx, f * v.pitch / size, tau * size), 0, gain)
    return y


def _rub(ctx: Synth, mat: _Material, lo: float, hi: float, rate: float) -> np.ndarray:
    """Sustained contact with a material (sliding, rubbing, rolling): stick-slip pulses that
    excite the material's lowest modes, over friction hiss."""
    n, v = ctx.n, ctx.var
    pulses = _pulses(ctx, rate * v.pitch * (1 + 0.3 * _smooth(ctx, n, 5.0)), jitter=0.6)
    y = np.zeros(n)
    f0 = mat.f0 * v.pitch / ctx.size
    for k, ratio in enumerate(mat.ratios[:3]):
        f = f0 * ratio
        y += 0.7**k * _bp(pulses, ctx.sr, f * 0.92, f * 1.08)
    hiss = _unit(_bp(ctx.rng.standard_normal(n), ctx.sr, lo, hi * v.bright))
    y = _unit(y) + 0.5 * hiss
    y *= (0.7 + 0.3 * _smooth(ctx, n, 10.0)) * (0.65 + 0.35 * _smooth(ctx, n, 0.7))
    return _breakaway(ctx, y, lo, hi)


def _breakaway(ctx: Synth, y: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Static friction lets go with a burst: the contact starts audibly, on its frame."""
    y = y * (1.0 + 0.8 * _exp_env(ctx, len(y), 0.04))
    _add(y, _burst(ctx, 0.012, lo, hi * ctx.var.bright), 0, 1.2 * float(np.max(np.abs(y))))
    return y


def _impact_family(ctx: Synth, one: RenderFn, rate_hz: float, rub: RenderFn) -> np.ndarray:
    """One hit; a series when the words ask for repetition; otherwise a continuous request
    is sustained contact (a slide) with the same material, not a stream of unasked-for hits."""
    if not ctx.continuous:
        return one(ctx)
    return _scatter(ctx, one, rate_hz) if ctx.repeated else rub(ctx)


def _impact_wood(ctx: Synth) -> np.ndarray:
    wood = _MATERIALS["wood"]
    return _impact_family(
        ctx,
        lambda c: _strike(c, wood),
        2.5,
        lambda c: _rub(c, wood, 300.0, 3000.0, 70.0),
    )


def _impact_metal(ctx: Synth) -> np.ndarray:
    metal = _MATERIALS["metal"]
    return _impact_family(
        ctx,
        lambda c: _strike(c, metal),
        1.5,
        lambda c: _rub(c, metal, 1500.0, 9000.0, 160.0),
    )


def _shatter(ctx: Synth) -> np.ndarray:
    """A glass break: the first strike, a bright crash and a shower of falling fragments."""
    size = ctx.size
    y = np.zeros(ctx.samples(1.3 * size))
    _add(y, _strike(ctx, _MATERIALS["glass"]), 0, 0.7)
    _add(y, _burst(ctx, 0.07 * size * ctx.var.decay, 1500.0, 12000.0 * ctx.var.bright), 0, 1.0)
    times = np.sort(np.minimum(ctx.rng.exponential(0.15 * size, 45), 1.1 * size))
    for t in times:
        f = ctx.rng.uniform(2500.0, 7000.0) * ctx.var.pitch
        tau = ctx.rng.uniform(0.01, 0.05)
        ping = _modes(ctx, ctx.samples(tau * 6), [f, f * 1.7], [tau, tau * 0.6], [1.0, 0.4])
        _add(y, ping, int(t * ctx.sr), ctx.rng.uniform(0.1, 0.45) * math.exp(-t / 0.5))
    return y


def _impact_glass(ctx: Synth) -> np.ndarray:
    glass = _MATERIALS["glass"]
    if ctx.has("shatter", "break", "broke", "broken", "smash", "crash"):
        one: RenderFn = _shatter
    else:
        one = lambda c: _strike(c, glass)  # noqa: E731
    return _impact_family(ctx, one, 2.0, lambda c: _rub(c, glass, 2000.0, 10000.0, 220.0))


def _soft_hit(ctx: Synth) -> np.ndarray:
    size, v = ctx.size, ctx.var
    tau = 0.07 * v.decay * size
    y = _thump(ctx, 70.0 * v.pitch / size, tau)
    y = np.concatenate([y, np.zeros(ctx.samples(0.05))])
    n = len(y)
    noise = _unit(_lp(ctx.rng.standard_normal(n), ctx.sr, 1000.0 * v.bright))
    y += 0.5 * noise * _exp_env(ctx, n, 0.025 * v.decay)
    if ctx.has("punch", "slap", "kick", "smack", "hit"):
        _add(y, _burst(ctx, 0.006, 1200.0, 5000.0 * v.bright), 0, 0.45)
    if ctx.has("fall", "body", "land", "collapse", "tumble"):
        _add(y, _thump(ctx, 90.0 * v.pitch / size, tau * 0.7), ctx.samples(0.09 * v.timing), 0.6)
    return y


def _soft_rub(ctx: Synth) -> np.ndarray:
    """A body or cushion dragged: low, dull friction in slow swells."""
    n = ctx.n
    y = _unit(_bp(ctx.rng.standard_normal(n), ctx.sr, 120.0, 1500.0 * ctx.var.bright))
    crinkle = np.abs(_lp(ctx.rng.standard_normal(n), ctx.sr, 30.0))
    y *= 0.5 + 0.5 * crinkle / (np.max(crinkle) + 1e-12)
    return _breakaway(ctx, y * (0.65 + 0.35 * _smooth(ctx, n, 0.7)), 150.0, 1500.0)


def _impact_soft(ctx: Synth) -> np.ndarray:
    return _impact_family(ctx, _soft_hit, 2.0, _soft_rub)


# --------------------------------------------------------------------------------------------
# Footsteps
# --------------------------------------------------------------------------------------------

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
        y = _grains(ctx, n, 900.0, 1200.0, 7000.0 * v.bright) * _exp_env(ctx, n, 0.05 * v.decay)
        _add(y, _burst(ctx, 0.02, 80.0, 400.0), 0, 0.5)
    elif surface == "grass":
        n = ctx.samples(0.18)
        y = _grains(ctx, n, 500.0, 2000.0, 8000.0 * v.bright) * _exp_env(ctx, n, 0.06 * v.decay)
        _add(y, _burst(ctx, 0.04, 1500.0, 8000.0), 0, 0.4)
    elif surface == "snow":
        n = ctx.samples(0.2)
        y = _grains(ctx, n, 1500.0, 600.0, 3500.0 * v.bright) * _exp_env(ctx, n, 0.08 * v.decay)
        _add(y, _thump(ctx, 80.0 * v.pitch, 0.03), 0, 0.4)
    elif surface == "wood":
        f1 = 135.0 * v.pitch
        y = _modes(ctx, ctx.samples(0.3), [f1, f1 * 2.3], [0.06 * v.decay, 0.03], [0.8, 0.3])
        _add(y, _burst(ctx, 0.008, 200.0, 3000.0 * v.bright), 0, 0.9)
    else:  # concrete, metal
        y = _burst(ctx, 0.010 * v.decay, 250.0, 4500.0 * v.bright)
        y = np.concatenate([y, np.zeros(ctx.samples(0.05))])
        _add(y, _thump(ctx, 120.0 * v.pitch, 0.02), 0, 0.5)
        if surface == "metal":
            f1 = 420.0 * v.pitch
            ring = _modes(
                ctx, ctx.samples(0.4), [f1, f1 * 2.4, f1 * 4.1], [0.25, 0.15, 0.08], [1, 0.6, 0.3]
            )
            y = np.concatenate([y, np.zeros(max(0, len(ring) - len(y)))])
            _add(y, ring, 0, 0.4)
    return gain * y


def _step(ctx: Synth) -> np.ndarray:
    """Heel then toe, 55-95 ms apart."""
    surface = _surface(ctx)
    heel = _footfall(ctx, surface, 1.0)
    toe = _footfall(ctx, surface, 0.55)
    gap = ctx.samples(0.075 * ctx.var.timing * ctx.rng.uniform(0.9, 1.1))
    y = np.zeros(max(len(heel), gap + len(toe)))
    _add(y, heel, 0)
    _add(y, toe, gap)
    return y


def _footsteps(ctx: Synth) -> np.ndarray:
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
        _add(y, _step(sub), int(t * ctx.sr), gain)
        t += interval * ctx.var.timing * ctx.rng.uniform(0.97, 1.03)
        foot += 1
    return y


# --------------------------------------------------------------------------------------------
# Gestures: whoosh, cloth, paper, scrape
# --------------------------------------------------------------------------------------------


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
        return _band(freqs, 700.0 + (top - 700.0) * s, 1.0 - 0.3 * s)

    y = np.tanh(_spectral_noise(ctx, n, gains) / 3.0)  # even grain, no stray spikes
    env = start + (1.0 - start) * shape  # starts audibly: the onset is where it starts
    env[pos > peak_at] = shape[pos > peak_at]
    return y * env


def _whoosh(ctx: Synth) -> np.ndarray:
    sharp = ctx.has("swish", "sword", "whip", "swipe", "blade", "cane")
    if not ctx.continuous:
        return _pass(ctx, ctx.length(0.5, 0.15, 0.6 if sharp else 1.5))
    if ctx.n <= ctx.samples(4.0):  # a pass-by: one sweep across the whole event
        return _pass(ctx, ctx.n, start=0.5)
    y = np.zeros(ctx.n)
    t = 0.0
    while t < ctx.n / ctx.sr:
        n = ctx.samples(ctx.rng.uniform(0.4, 1.0) * ctx.var.timing)
        _add(y, _pass(ctx, n), int(t * ctx.sr), ctx.rng.uniform(0.6, 1.0))
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
        _add(env, bump, int(t * ctx.sr), 1.0 if first else ctx.rng.uniform(0.4, 1.0))
        t += ctx.rng.uniform(0.6, 1.6) / rate_hz
        first = False
    return env


def _cloth(ctx: Synth) -> np.ndarray:
    n = ctx.length(0.5, 0.15, 1.5)
    v = ctx.var
    carrier = _unit(_bp(ctx.rng.standard_normal(n), ctx.sr, 400.0, 7000.0 * v.bright))
    crinkle = np.abs(_lp(ctx.rng.standard_normal(n), ctx.sr, 40.0))
    crinkle = 0.4 + 0.6 * crinkle / (np.max(crinkle) + 1e-12)
    env = _bumps(ctx, n, 3.0, 0.0005 if not ctx.continuous else 0.03)
    return carrier * crinkle * (0.04 + env)


def _paper(ctx: Synth) -> np.ndarray:
    v = ctx.var
    if ctx.has("page", "turn", "book", "flip", "leaf") and not ctx.continuous:
        n = ctx.samples(0.45 * v.timing)
        tt = np.arange(n) / ctx.sr
        swish = _unit(_bp(ctx.rng.standard_normal(n), ctx.sr, 300.0, 3000.0 * v.bright))
        env = 0.3 + 0.7 * np.exp(-(((tt - 0.15) / 0.08) ** 2))
        y = swish * env * (tt < 0.32)
        _add(y, _burst(ctx, 0.004, 800.0, 6000.0 * v.bright), ctx.samples(0.3 * v.timing), 0.9)
        return y
    n = ctx.length(0.6, 0.2, 1.5)
    env = _bumps(ctx, n, 2.5, 0.0002 if not ctx.continuous else 0.02)
    hi = _grains(ctx, n, 700.0, 1500.0, 9000.0 * v.bright)
    lo = _grains(ctx, n, 200.0, 400.0, 2000.0)
    return (hi + 0.5 * lo) * (0.03 + env)


def _scrape(ctx: Synth) -> np.ndarray:
    n = ctx.length(0.8, 0.15, MAX_TAIL_S)
    v = ctx.var
    heavy = ctx.has("chair", "furniture", "drag", "heavy", "table", "box", "crate", "sofa")
    rate = (60.0 if heavy else 140.0) * v.pitch * (1 + 0.25 * _smooth(ctx, n, 4.0))
    lo, hi = (300.0, 2500.0) if heavy else (800.0, 6000.0)
    judder = _unit(_bp(_pulses(ctx, rate), ctx.sr, lo, hi * v.bright))
    hiss = _unit(_bp(ctx.rng.standard_normal(n), ctx.sr, 1000.0, 8000.0 * v.bright))
    rough = 0.6 + 0.4 * _smooth(ctx, n, 12.0)
    y = (judder + 0.4 * hiss) * rough
    if ctx.has("screech", "squeal", "squeak"):
        tt = np.arange(n) / ctx.sr
        f = 1800.0 * v.pitch * (1 + 0.02 * np.sin(2 * np.pi * 6 * tt))
        y += 0.6 * np.sin(2 * np.pi * np.cumsum(f) / ctx.sr)
    if ctx.continuous:
        return y * (0.6 + 0.4 * _smooth(ctx, n, 0.5))
    return _shape_texture(ctx, y)


# --------------------------------------------------------------------------------------------
# Door, water, bounce
# --------------------------------------------------------------------------------------------


def _latch(ctx: Synth, gain: float = 1.0) -> np.ndarray:
    f = 2400.0 * ctx.var.pitch
    y = _modes(ctx, ctx.samples(0.08), [f, f * 1.6, f * 2.9], [0.02, 0.015, 0.01], [1, 0.6, 0.3])
    _add(y, _burst(ctx, 0.002, 2000.0, 9000.0), 0, 0.6)
    return gain * y


def _slam(ctx: Synth) -> np.ndarray:
    size, v = ctx.size, ctx.var
    y = np.zeros(ctx.samples(0.9 * size))
    _add(y, _thump(ctx, 60.0 * v.pitch / size, 0.12 * v.decay * size), 0, 1.0)
    f0 = 150.0 * v.pitch / size
    panel = _modes(
        ctx,
        len(y),
        [f0, f0 * 2.3, f0 * 3.9, f0 * 6.1],
        [0.12 * v.decay, 0.08, 0.05, 0.03],
        [0.6 * v.bright**k for k in (0, 1, 2, 3)],
    )
    _add(y, panel, 0)
    _add(y, _burst(ctx, 0.006, 500.0, 4000.0 * v.bright), 0, 0.8)
    _add(y, _latch(ctx), ctx.samples(0.012 * v.timing), 0.35)
    for at, gain in ((0.05, 0.15), (0.09, 0.08)):
        _add(y, _latch(ctx), ctx.samples(at * v.timing), gain)
    return y


def _creak_sound(ctx: Synth, n: int) -> np.ndarray:
    """Stick-slip pulses at a gliding rate through a few wooden resonances."""
    v = ctx.var
    rate = 35.0 * v.pitch * (1.0 + 0.5 * _smooth(ctx, n, 3.0))
    pulses = _pulses(ctx, rate)
    y = np.zeros(n)
    for f, g in ((650.0, 1.0), (1300.0, 0.6), (2100.0, 0.35 * v.bright)):
        f *= v.pitch
        y += g * _bp(pulses, ctx.sr, f * 0.94, f * 1.06)
    return _unit(y) * (0.7 + 0.3 * _smooth(ctx, n, 2.0))


def _door(ctx: Synth) -> np.ndarray:
    if ctx.continuous:
        y = np.zeros(ctx.n)
        t = 0.0
        while t < ctx.n / ctx.sr:
            m = ctx.samples(ctx.rng.uniform(0.6, 1.5))
            _add(y, _creak_sound(ctx, m) * np.hanning(m), int(t * ctx.sr), 1.0)
            t += m / ctx.sr + ctx.rng.uniform(0.1, 0.6)
        return y
    if ctx.has("creak", "squeak", "open", "hinge", "slow"):
        m = ctx.length(0.9, 0.4, 2.0)
        creak = _creak_sound(ctx, m)
        fade = min(m, ctx.samples(0.04))
        creak[m - fade :] *= np.linspace(1.0, 0.0, fade)
        y = np.zeros(m + ctx.samples(0.3))
        _add(y, creak, 0, 0.5)
        _add(y, _latch(ctx), m, 0.8)
        _add(y, _thump(ctx, 90.0 * ctx.var.pitch, 0.05), m, 0.4)
        return y
    return _slam(ctx)


def _bubble(ctx: Synth, f: float, tau: float) -> np.ndarray:
    """A Minnaert bubble: a decaying sine whose pitch rises as it nears the surface."""
    m = ctx.samples(tau * 6)
    tt = np.arange(m) / ctx.sr
    freq = np.minimum(f * (1 + 0.4 * tt / (tau * 6)), 0.45 * ctx.sr)
    return np.sin(2 * np.pi * np.cumsum(freq) / ctx.sr) * np.exp(-tt / tau)


def _water(ctx: Synth) -> np.ndarray:
    v, size = ctx.var, ctx.size
    if ctx.continuous:  # a stream or pouring water: a bed of bubbles over band noise
        n = ctx.n
        bed = _unit(_bp(ctx.rng.standard_normal(n), ctx.sr, 300.0, 3000.0 * v.bright))
        y = 0.3 * bed * (0.7 + 0.3 * _smooth(ctx, n, 3.0))
        count = ctx.rng.poisson(40.0 * n / ctx.sr)
        for at in ctx.rng.integers(0, n, count):
            b = _bubble(ctx, ctx.rng.uniform(400.0, 1500.0) * v.pitch, ctx.rng.uniform(0.01, 0.04))
            _add(y, b, int(at), ctx.rng.uniform(0.1, 0.5))
        return y
    if ctx.has("drip", "droplet", "plink", "drop"):
        y = _bubble(ctx, 1200.0 * v.pitch / size, 0.025 * v.decay)
        y[0] = 0.0
        _add(y, _burst(ctx, 0.002, 2000.0, 8000.0), 0, 0.5)
        return y
    n = ctx.samples(0.9 * size)
    y = _burst(ctx, 0.12 * size * v.decay, 200.0, 9000.0 * v.bright)
    y = np.concatenate([y, np.zeros(max(0, n - len(y)))])
    _add(y, _burst(ctx, 0.25 * size, 2500.0, 10000.0), ctx.samples(0.02), 0.25)
    _add(y, _thump(ctx, 120.0 * v.pitch / size, 0.04), 0, 0.6)
    times = np.minimum(ctx.rng.exponential(0.12 * size, 25), 0.6 * size)
    for t in times:
        b = _bubble(
            ctx, ctx.rng.uniform(400.0, 1600.0) * v.pitch / size, ctx.rng.uniform(0.015, 0.05)
        )
        _add(y, b, int(t * ctx.sr), ctx.rng.uniform(0.15, 0.4))
    return y


def _bounce(ctx: Synth) -> np.ndarray:
    v = ctx.var
    if ctx.has("ping", "pong", "golf", "marble"):
        thump_f, ring_f, ring_tau, dt0, click = 900.0, 2200.0, 0.015, 0.3, 0.8
    elif ctx.has("tennis", "small", "rubber"):
        thump_f, ring_f, ring_tau, dt0, click = 300.0, 1200.0, 0.03, 0.4, 0.5
    else:  # a basketball or football: hollow and low
        thump_f, ring_f, ring_tau, dt0, click = 140.0, 520.0, 0.09, 0.5, 0.3

    def hit(c: Synth) -> np.ndarray:
        y = _thump(c, thump_f * c.var.pitch, 0.03 * c.var.decay, drop=0.5)
        ring = _modes(c, c.samples(ring_tau * 7), [ring_f * c.var.pitch], [ring_tau], [0.5])
        y = np.concatenate([y, np.zeros(max(0, len(ring) - len(y)))])
        _add(y, ring, 0)
        _add(y, _burst(c, 0.002, 1500.0, 8000.0 * c.var.bright), 0, click)
        return y

    if ctx.continuous:  # dribbling: steady bounces
        y = np.zeros(ctx.n)
        t = ctx.rng.uniform(0.02, 0.1)
        while t < ctx.n / ctx.sr:
            sub = dataclasses.replace(ctx, var=v.nudged(ctx.rng, 0.3))
            _add(y, hit(sub), int(t * ctx.sr), ctx.rng.uniform(0.85, 1.0))
            t += dt0 * v.timing * ctx.rng.uniform(0.97, 1.03)
        return y
    restitution = 0.76 * v.decay
    y = np.zeros(ctx.samples(MAX_TAIL_S))
    t, dt, gain = 0.0, dt0 * v.timing, 1.0
    while t < MAX_TAIL_S - 0.2 and gain > 0.03 and dt > 0.02:
        _add(y, hit(ctx), int(t * ctx.sr), gain)
        t += dt
        dt *= restitution
        gain *= restitution**0.8
    return y


# --------------------------------------------------------------------------------------------
# Textures: fire, wind, rain, engine, room tone
# --------------------------------------------------------------------------------------------


def _texture_length(ctx: Synth) -> int:
    return ctx.length(1.5, 0.4, MAX_TAIL_S)


def _fire(ctx: Synth) -> np.ndarray:
    n = _texture_length(ctx)
    v = ctx.var
    roar = _unit(_lp(ctx.rng.standard_normal(n), ctx.sr, 300.0 * v.bright, order=4))
    roar *= 0.6 + 0.4 * _smooth(ctx, n, 2.0)
    hiss = _unit(_bp(ctx.rng.standard_normal(n), ctx.sr, 2500.0, 9000.0 * v.bright))
    hiss *= 0.5 + 0.5 * _smooth(ctx, n, 6.0)
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
        crackle += _bp(pops, ctx.sr, lo, hi * v.bright)
    if not ctx.continuous:
        pop = _burst(ctx, 0.002, 1000.0, 6000.0)
        _add(crackle, pop, 0, 1.5 * (np.max(np.abs(crackle)) + 1e-3) / (np.max(np.abs(pop)) + 1e-9))
    y = 0.35 * roar + 0.08 * hiss + _unit(crackle)
    return _shape_texture(ctx, y, crest=None)  # the pops are the point


def _wind(ctx: Synth) -> np.ndarray:
    n = _texture_length(ctx)
    if ctx.has("strong", "howl", "storm", "gale", "heavy", "blizzard"):
        strength = 1.5
    elif ctx.has("light", "gentle", "breeze", "soft"):
        strength = 0.6
    else:
        strength = 1.0
    gust = np.clip(0.55 + 0.45 * _smooth(ctx, n, 0.25), 0.05, 1.0) ** strength
    if not ctx.continuous:
        gust = 0.5 + 0.5 * gust  # a gust asked for as one event starts audibly
    bright = ctx.var.bright

    def gains(times: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        g = np.interp(times, np.arange(n) / ctx.sr, gust)
        body = _band(freqs, (300.0 + 500.0 * g * strength) * bright, 1.2)
        whistle = _band(freqs, (700.0 + 900.0 * g * strength) * bright, 0.06)
        return body + 0.25 * strength * whistle

    y = _spectral_noise(ctx, n, gains) * gust
    rumble = _unit(_lp(ctx.rng.standard_normal(n), ctx.sr, 120.0))
    y += 0.5 * rumble * (0.5 + 0.5 * gust)
    return _shape_texture(ctx, y)


def _rain(ctx: Synth) -> np.ndarray:
    n = _texture_length(ctx)
    v = ctx.var
    if ctx.has("heavy", "storm", "downpour", "pour", "torrential", "thunderstorm"):
        density, bed_gain = 900.0, 0.45
    elif ctx.has("light", "drizzle", "gentle", "soft"):
        density, bed_gain = 60.0, 0.1
    else:
        density, bed_gain = 250.0, 0.25
    bed = _lp(_hp(_pink(ctx, n), ctx.sr, 400.0), ctx.sr, 9000.0 * v.bright)
    drops = np.zeros(n)
    for lo, hi in ((1800.0, 3200.0), (3500.0, 6500.0), (600.0, 1400.0)):
        imp = np.zeros(n)
        count = ctx.rng.poisson(density / 3 * n / ctx.sr)
        np.add.at(imp, ctx.rng.integers(0, n, count), ctx.rng.uniform(0.2, 1.0, count) ** 2)
        drops += _bp(imp, ctx.sr, lo * v.pitch, hi * v.pitch * v.bright)
    y = bed_gain * _unit(bed) + _unit(drops)
    return _shape_texture(ctx, y)


def _engine(ctx: Synth) -> np.ndarray:
    n = _texture_length(ctx)
    v = ctx.var
    motor = ctx.has("motor", "electric", "fan", "drill", "whine", "buzz", "servo", "blender")
    f0 = (110.0 if motor else 32.0 / ctx.size) * v.pitch
    f = f0 * (1.0 + 0.015 * _smooth(ctx, n, 1.5))
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
        y += 0.05 * _unit(_hp(ctx.rng.standard_normal(n), ctx.sr, 3000.0))
    else:
        firing = (0.5 + 0.5 * np.cos(phase)) ** 4
        y += 0.8 * _unit(_lp(ctx.rng.standard_normal(n), ctx.sr, 1500.0 * v.bright)) * firing
    return _shape_texture(ctx, _lp(y, ctx.sr, 5000.0))


def _room_tone(ctx: Synth) -> np.ndarray:
    n = _texture_length(ctx)
    v = ctx.var
    air = _lp(_pink(ctx, n), ctx.sr, 3500.0 * v.bright)
    rumble = _unit(_lp(ctx.rng.standard_normal(n), ctx.sr, 90.0))
    y = _unit(air) + 0.6 * rumble
    if ctx.has("exterior", "outdoor", "outside", "city", "street", "traffic", "park", "urban"):
        distant = _unit(_lp(ctx.rng.standard_normal(n), ctx.sr, 250.0))
        y += 0.8 * distant * (0.6 + 0.4 * _smooth(ctx, n, 0.1))
    if ctx.has("hum", "hvac", "air", "fridge", "fluorescent", "electric", "buzz", "server"):
        tt = np.arange(n) / ctx.sr
        for k, g in ((1, 0.08), (2, 0.05), (3, 0.03)):
            y += g * np.sin(2 * np.pi * 60.0 * k * tt)
    y *= 1.0 + 0.08 * _smooth(ctx, n, 0.2)
    return _shape_texture(ctx, y)


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------


def _kw(spec: str, base: Mapping[str, float] | None = None) -> dict[str, float]:
    """Keywords written as ``"word word:0.6 ..."``; a word without a weight weighs 1."""
    words = dict(base or {})
    for item in spec.split():
        word, _, weight = item.partition(":")
        words[word] = float(weight) if weight else 1.0
    return words


# Words of striking, shared by the four impact presets; the material word picks among them.
_HIT = _kw(
    """impact hit bang knock tap strike collide collision clunk thud:0.8 clack:0.8 drop:0.8
    smack:0.8 thump:0.8 bump:0.8 land:0.6 crash:0.5 set:0.3 put:0.3 place:0.3"""
)


def _make_presets() -> dict[str, Preset]:
    presets = [
        Preset(
            "impact_wood",
            _kw(
                """wood wooden plank knock:1.1 clack table:0.8 desk:0.8 crate:0.8 stick:0.8
                chair:0.6 box:0.6 shelf:0.6 bat:0.6 log:0.6 board:0.6 block:0.6 cabinet:0.7
                drawer:0.7 hammer:0.4 cutting:0.3""",
                _HIT,
            ),
            False,
            _impact_wood,
            description="a knock or hit on wood: modes of a beam plus a contact click",
        ),
        Preset(
            "impact_metal",
            _kw(
                """metal metallic steel iron pipe pan ding bell wrench anvil gong clang:1.5
                clank:1.3 pot:0.8 can:0.8 tin:0.8 knife:0.8 spoon:0.8 fork:0.8 locker:0.8
                tool:0.6 key:0.6 chain:0.6""",
                _HIT,
            ),
            False,
            _impact_metal,
            description="a struck metal object: long, inharmonic ringing",
        ),
        Preset(
            "impact_glass",
            _kw(
                """glass bottle tink clink:1.5 shatter:1.5 jar:0.9 porcelain:0.9 vase:0.9
                cup:0.8 wine:0.8 break:0.8 smash:0.8 broken:0.8 plate:0.8 dish:0.8 ceramic:0.8
                mug:0.7 window:0.6 chime:0.5 toast:0.4""",
                _HIT,
            ),
            False,
            _impact_glass,
            description="glass or ceramic: bright short ringing, or a shatter",
        ),
        Preset(
            "impact_soft",
            _kw(
                """soft body pillow cushion flesh kick mattress fist slap punch:1.2 thud:1.1
                thump:1.1 sack:0.9 fall:0.8 couch:0.8 sofa:0.8 collapse:0.8 bag:0.6 bed:0.6
                tumble:0.6 boom:0.6""",
                _HIT,
            ),
            False,
            _impact_soft,
            description="a dull thud: a body, a cushion, a punch",
        ),
        Preset(
            "footsteps",
            _kw(
                """footstep:1.5 footsteps:1.5 step:1.5 walk:1.5 feet:1.2 foot shoe boot heel
                sneaker jog:0.8 run:0.6 sprint:0.6 pace:0.6 stair:0.6 floorboard:0.5
                gravel:0.4 snow:0.4 grass:0.3"""
            ),
            False,
            _footsteps,
            description="heel-toe steps on concrete, wood, gravel, grass, snow or metal",
        ),
        Preset(
            "whoosh",
            _kw(
                """whoosh:1.5 swoosh:1.5 swish:1.5 swing swipe sword whip flyby pass:0.6
                fly:0.6 throw:0.6 blade:0.6 transition:0.6 zip:0.6 rush:0.5 wave:0.4 air:0.3"""
            ),
            False,
            _whoosh,
            description="air moved past the microphone: a band sweep that swells and fades",
        ),
        Preset(
            "door",
            _kw(
                """door:1.5 slam:1.5 creak:1.2 hinge latch shut doorway close:0.8 gate:0.8
                open:0.6 squeak:0.6"""
            ),
            False,
            _door,
            description="a door slam with latch, or a creak ending in the latch",
        ),
        Preset(
            "cloth",
            _kw(
                """cloth:1.5 clothes:1.2 rustle:1.2 fabric:1.2 jacket shirt coat sleeve blanket
                garment dress:0.8 sheet:0.8 towel:0.8 movement:0.6 leather:0.6 pocket:0.6
                gesture:0.5 move:0.4 shuffle:0.4 sit:0.3"""
            ),
            False,
            _cloth,
            description="clothing and fabric movement: crinkled band noise in gestures",
        ),
        Preset(
            "water_splash",
            _kw(
                """splash:1.5 water:1.2 dive drip droplet puddle bubble liquid plop swim
                pool:0.8 stream:0.8 lake:0.6 river:0.6 pour:0.6 wet:0.6 wave:0.5 sink:0.5
                tap:0.2"""
            ),
            False,
            _water,
            description="a splash with bubbles and spray, a drip, or running water",
        ),
        Preset(
            "fire",
            _kw(
                """fire:1.5 campfire:1.5 fireplace:1.5 bonfire:1.5 crackle:1.2 flame:1.2 burn
                torch ember blaze"""
            ),
            True,
            _fire,
            level_db=-3.0,
            description="a fire: low roar, hiss and crackling pops",
        ),
        Preset(
            "wind",
            _kw(
                """wind:1.5 windy:1.5 gust:1.2 breeze:1.2 gale:1.2 howl blow:0.8 draft:0.8
                blizzard:0.8 storm:0.5"""
            ),
            True,
            _wind,
            level_db=-3.0,
            description="wind: gusting band noise with a whistle and a low rumble",
        ),
        Preset(
            "rain",
            _kw(
                """rain:1.5 rainy:1.5 downpour:1.5 raindrop:1.5 drizzle:1.2 patter
                thunderstorm shower:0.6 storm:0.6 umbrella:0.6 drop:0.2"""
            ),
            True,
            _rain,
            level_db=-3.0,
            description="rain: a hiss bed and thousands of drops",
        ),
        Preset(
            "engine",
            _kw(
                """engine:1.5 motor:1.5 idle rev motorcycle tractor truck:0.8 vehicle:0.8
                machine:0.8 generator:0.8 fan:0.8 drill:0.8 car:0.7 bus:0.7 drone:0.5 boat:0.5
                hum:0.5 buzz:0.4 bike:0.3"""
            ),
            True,
            _engine,
            level_db=-2.0,
            description="a combustion engine at idle or revving, or an electric motor",
        ),
        Preset(
            "room_tone",
            _kw(
                """ambience:1.5 ambient:1.5 atmosphere:1.5 room:1.2 tone background silence
                hvac presence quiet:0.8 interior:0.8 office:0.8 hall:0.6 city:0.6 exterior:0.6
                night:0.5 air:0.4 hum:0.3"""
            ),
            True,
            _room_tone,
            level_db=-12.0,
            description="room tone or ambience: pink air, low rumble, optional mains hum",
        ),
        Preset(
            "paper",
            _kw(
                """paper:1.5 newspaper:1.5 page:1.2 crumple:1.2 crinkle envelope wrapper
                book:0.8 letter:0.8 cardboard:0.8 tissue:0.8 card:0.6 map:0.6 flip:0.5
                turn:0.3"""
            ),
            False,
            _paper,
            description="paper: a page turn, or crumpling crackle",
        ),
        Preset(
            "bounce",
            _kw(
                """bounce:1.5 ball:1.5 basketball:1.5 bouncy:1.5 dribble:1.2 football tennis
                pong soccer ping:0.6 rubber:0.6"""
            ),
            False,
            _bounce,
            description="a ball bouncing to rest, or dribbled",
        ),
        Preset(
            "scrape",
            _kw(
                """scrape:1.5 slide:1.2 drag:1.2 friction:1.2 scratch screech grind rub skid
                squeal:0.8 shove:0.6 push:0.5"""
            ),
            False,
            _scrape,
            description="friction: stick-slip judder and hiss, optionally a screech",
        ),
    ]
    return {p.name: p for p in presets}


PRESETS: dict[str, Preset] = _make_presets()
FALLBACK_ONE_SHOT = "impact_soft"
FALLBACK_CONTINUOUS = "room_tone"


def rank_presets(
    text: str, presets: Mapping[str, Preset] | None = None
) -> list[tuple[Preset, float]]:
    """Every preset with its score for ``text``, best first (registry order breaks ties)."""
    presets = PRESETS if presets is None else presets
    weighted = _weighted_words(text)
    scored = [(p, p.score(weighted)) for p in presets.values()]
    order = sorted(range(len(scored)), key=lambda i: -scored[i][1])
    return [scored[i] for i in order]


def match_preset(
    text: str, continuous: bool = False, presets: Mapping[str, Preset] | None = None
) -> tuple[Preset, float]:
    """The preset whose keywords best cover ``text``; score 0 means the fallback was chosen.

    The fallback is a soft impact for a one-shot and room tone for a continuous request: the
    least conspicuous sound of each kind.
    """
    presets = PRESETS if presets is None else presets
    best, score = rank_presets(text, presets)[0]
    if score > 0:
        return best, score
    name = FALLBACK_CONTINUOUS if continuous else FALLBACK_ONE_SHOT
    return presets.get(name, best), 0.0


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


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
    side = width * _filter(_allpass_sos(sr), y)
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
        preset, score = match_preset(request.text, request.continuous, self.presets)
        if score == 0:
            logger.info("No preset matches %r; using %s.", request.text, preset.name)
        return self.render_preset(preset, request, score=score)

    def render_preset(
        self, preset: Preset | str, request: SoundRequest, *, score: float | None = None
    ) -> RenderedSound:
        """Render a named preset whatever the text matches (the text still picks variants)."""
        # 1. Check inputs
        if isinstance(preset, str):
            if preset not in self.presets:
                choices = ", ".join(sorted(self.presets))
                raise ConfigError(f"Unknown preset {preset!r}; choose one of {choices}.")
            preset = self.presets[preset]
        sr = int(request.sample_rate)
        if not 8_000 <= sr <= 384_000:
            raise RenderError(f"Sample rate {sr} Hz is out of range.", field="sample_rate")
        dur = float(request.duration_s)
        if not math.isfinite(dur) or dur < 0 or (request.continuous and dur <= 0):
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
        ctx = Synth(sr, n, request.continuous, rng, var, words, raw)

        # 3. Synthesise
        y = np.asarray(preset.render(ctx), dtype=np.float64)
        if y.ndim != 1 or not np.all(np.isfinite(y)):
            raise RenderError(f"Preset {preset.name!r} produced unusable audio.", field="preset")

        # 4. Fit the length: exact for textures, natural decay for one-shots
        if request.continuous:
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
            metadata={
                "preset": preset.name,
                "matched": bool(score is None or score > 0),
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
