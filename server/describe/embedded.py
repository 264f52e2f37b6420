"""The embedded describer: a text for each detected event, with no model.

It takes the clip's name when it names a sound source ("door", "glass", ...), else a cue
chosen from the motion the detector saw. Each event says which of these its text came from, so
the editor knows what to check.
"""

from __future__ import annotations

import re

from ..vocabulary import SOUND_WORDS, normalize_word
from .base import Describer, Description

SOUND_STEMS = frozenset(normalize_word(w) for w in SOUND_WORDS)

# Cues for motion kinds the detector reports, worded so generators match them.
MOTION_CUES = {
    "impact": "object hits the floor, impact thud",
    "fall": "object falls and hits the floor, impact thud",
    "hit": "knock, hard impact",
    "contact": "knock, hard impact",
    "stop": "impact thud",
    "slide": "object slides and scrapes across a surface",
    "pass-by": "whoosh pass by",
    "pass": "whoosh pass by",
    "continuous": "movement, cloth rustle",
}


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z]+", text.lower()) if len(w) > 2]


class EmbeddedDescriber(Describer):
    """No model: a clip name that names a sound, else a cue from the motion."""

    name = "none"

    def __init__(self, vocabulary: set[str] | None = None) -> None:
        self.vocabulary = vocabulary if vocabulary is not None else _default_vocabulary()

    def describe(self, shot, events, event_seconds, frames=None):
        clip_text = self._name_text(shot.clip_name)
        if clip_text:
            return [Description(clip_text, "clip name") for _ in events]
        return [
            Description(MOTION_CUES.get(iv.motion, MOTION_CUES["impact"]), "motion cue")
            for iv in events
        ]

    def _name_text(self, name: str) -> str | None:
        """A clip name is a description only if it names a sound ("door_slam", "cup_drop"), not
        just something in the picture ("bikes", "phone_dog_vfr"), and a generator knows it."""
        words = _words(name.rsplit(".", 1)[0])
        known = [w for w in words if w in self.vocabulary or w.rstrip("s") in self.vocabulary]
        sounding = [w for w in words if normalize_word(w) in SOUND_STEMS]
        return " ".join(words) if known and sounding else None


def _default_vocabulary() -> set[str]:
    from ..vocabulary import FAMILY_KEYWORDS

    vocab: set[str] = set()
    for keywords in FAMILY_KEYWORDS.values():
        for keyword in keywords:
            vocab.update(_words(keyword))
    return vocab
