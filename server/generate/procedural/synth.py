"""What a family's synthesis function gets and what a family is: the types every module shares.

A preset function receives a ``Synth`` (rate, length, mode, seeded randomness, the prompt's
words) and returns mono audio; ``Preset`` ties it to the words that choose it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from sonicvision.server.vocabulary import HIT_VERBS, REPEAT_WORDS, normalize_word, stem

MAX_TAIL_S = 3.0  # one-shots never ring longer than this


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
    one_shot: bool = False  # an instant the editor marked: the words may ask for a short series
    onscreen: bool = False  # seen in the picture: a pass-by spans only its near part

    @property
    def passby_edges(self) -> float:
        """How much farther a pass-by is at its span's ends than at its closest: a thing seen
        crossing the frame is near all the way (about -6 dB at the edges); one only heard
        approaches from and recedes into the distance."""
        return 2.0 if self.onscreen else 4.0

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
            w in REPEAT_WORDS or (w.endswith(("ing", "s")) and stem(w) in HIT_VERBS)
            for w in self.raw
        )

    @property
    def passing(self) -> bool:
        """The prompt describes something going by ("pass by", "drives past", "flyby")."""
        return self.has("pass", "past", "passby", "flyby", "overtake")

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
