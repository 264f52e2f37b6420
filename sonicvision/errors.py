"""One root error for the project, so callers can catch everything we raise on purpose.

Each error carries the context an editor needs to fix the input: the file, the clip, the
field. Messages are complete sentences; the CLI prints them as they are.
"""

from __future__ import annotations

from pathlib import Path


class SonicVisionError(Exception):
    """Root of every error SonicVision raises deliberately."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        clip: str | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.clip = clip
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.path:
            where.append(f"file {self.path!r}")
        if self.clip:
            where.append(f"clip {self.clip!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        return f"{self.message} ({', '.join(where)})" if where else self.message


class MediaError(SonicVisionError):
    """Media a timeline points at is missing, unreadable or not usable for analysis."""


class ConfigError(SonicVisionError):
    """An option or backend specification is invalid."""


class RenderError(SonicVisionError):
    """A sound could not be rendered or written."""
