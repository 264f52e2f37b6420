"""Editor timelines in and out through OpenTimelineIO: read, find shots and prompts, write back."""

from .errors import MediaNotFoundError, TimelineError, TimelineReadError, TimelineWriteError
from .io import read_timeline, write_timeline

__all__ = [
    "MediaNotFoundError",
    "TimelineError",
    "TimelineReadError",
    "TimelineWriteError",
    "read_timeline",
    "write_timeline",
]
