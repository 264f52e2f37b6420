"""Adapter errors: ours (SonicVisionError) and OTIO's (OTIOError) at once.

Code that handles OTIO failures generically still catches them; our CLI prints them with the
file, clip and field they name.
"""

from __future__ import annotations

import opentimelineio as otio

from sonicvision.errors import MediaError, SonicVisionError


class TimelineError(SonicVisionError, otio.exceptions.OTIOError):
    """A timeline could not be used as given."""


class TimelineReadError(TimelineError):
    """The timeline file is missing, malformed, or needs an option (e.g. an EDL's rate)."""


class TimelineWriteError(TimelineError):
    """The result cannot be written where or in the format asked for."""


class MediaNotFoundError(MediaError, otio.exceptions.OTIOError):
    """Clips whose media is not where the timeline says, nor under any media root."""

    HINT = "point at it with --media-root DIR or --path-map FROM=TO, or skip with --allow-missing"

    def __init__(self, missing: list[tuple[str, list[str]]]) -> None:
        self.missing = [(clip, list(tried)) for clip, tried in missing]
        lines = [
            f"clip {clip!r}: tried {'; '.join(tried) if tried else 'no path in the timeline'}"
            for clip, tried in self.missing
        ]
        count = len(self.missing)
        head = "media not found" if count == 1 else f"media not found for {count} clips"
        super().__init__(
            f"{head} ({self.HINT}):\n  " + "\n  ".join(lines),
            clip=self.missing[0][0] if count == 1 else None,
        )

    @classmethod
    def merge(cls, errors: list[MediaNotFoundError]) -> MediaNotFoundError:
        return cls([m for e in errors for m in e.missing])
