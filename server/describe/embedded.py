"""The embedded describer: a text for each detected event, with no model.

It takes, in order: the editor's SFX marker that sits on the event (the editor already said
what it is; a marker names the one event nearest it), the clip's name when it names a sound
source ("door", "glass", ...), else a cue chosen from the motion the detector saw. Each event
says which of these its text came from, so the editor knows what to check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sonicvision.events import Prompt

from .base import Describer, Description

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
    """No model: marker text, then a meaningful clip name, then a cue from the motion."""

    name = "none"

    def __init__(self, marker_window_s: float = 0.5, vocabulary: set[str] | None = None) -> None:
        self.window = marker_window_s
        self.vocabulary = vocabulary if vocabulary is not None else _default_vocabulary()

    def describe(self, shot, events, event_seconds, prompts, frames=None):
        named = self._markers_for(event_seconds, prompts)
        out = []
        clip_text = self._name_text(shot.clip_name)
        for interval, marker in zip(events, named, strict=True):
            if marker is not None:
                out.append(Description(marker.text, "marker", marker))
            elif clip_text:
                out.append(Description(clip_text, "clip name"))
            else:
                out.append(
                    Description(
                        MOTION_CUES.get(interval.motion, MOTION_CUES["impact"]), "motion cue"
                    )
                )
        return out

    def _markers_for(
        self, event_seconds: Sequence[float], prompts: Sequence[Prompt]
    ) -> list[Prompt | None]:
        """The marker that names each event: a marker names one sound, so it goes to the event
        nearest its start within the window, and each event takes its nearest marker first."""
        pairs = []
        for m, p in enumerate(prompts):
            start = p.record_range.start_time.to_seconds()
            for e, at in enumerate(event_seconds):
                if abs(start - at) <= self.window:
                    pairs.append((abs(start - at), e, m))
        named: list[Prompt | None] = [None] * len(event_seconds)
        taken: set[int] = set()
        for _, e, m in sorted(pairs):
            if named[e] is None and m not in taken:
                named[e] = prompts[m]
                taken.add(m)
        return named

    def _name_text(self, name: str) -> str | None:
        """A clip name is a description only if it names something a generator knows."""
        words = _words(name.rsplit(".", 1)[0])
        known = [w for w in words if w in self.vocabulary or w.rstrip("s") in self.vocabulary]
        return " ".join(words) if known else None


def _default_vocabulary() -> set[str]:
    from ..vocabulary import FAMILY_KEYWORDS

    vocab: set[str] = set()
    for keywords in FAMILY_KEYWORDS.values():
        for keyword in keywords:
            vocab.update(_words(keyword))
    return vocab
