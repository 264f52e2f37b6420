"""What each pass does, as data: where its events come from and what it writes.

Kept apart from the pipeline (and free of heavy imports) so the CLI can build its options
from it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pass:
    """What a pass does: where its events come from, and what it writes."""

    name: str
    summary: str
    finds_events: bool  # True: in the pictures; False: from the cue and SFX markers as left
    renders: bool
    cue_markers: bool | None  # None: as the options say
    keeps_cue_markers: bool  # the editor's cues from an earlier pass stay on the timeline


PASSES: dict[str, Pass] = {
    p.name: p
    for p in (
        Pass(
            "foley",
            "the main job: detect, describe, render, write new tracks",
            True,
            True,
            None,
            False,
        ),
        Pass(
            "analyze",
            "write detected events as editable cue markers only",
            True,
            False,
            True,
            False,
        ),
        Pass(
            "render",
            "render from cue and SFX markers as the editor left them",
            False,
            True,
            False,
            True,
        ),
    )
}
