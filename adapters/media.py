"""Where a clip's media is on this machine: the timeline's path, path mappings, media roots.

An editor's timeline names media as the editor's machine saw it (``/Volumes/Media/...``,
``D:\\media\\...``, ``file://localhost/...``). A server or a second workstation sees the same
files under another name, so we try, in order: the path as written (absolute or relative to
the timeline's folder), each path mapping rule, then a search by file name under media roots.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from sonicvision.errors import ConfigError

from .errors import MediaNotFoundError

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mov", ".mp4", ".mxf", ".m4v", ".mkv", ".avi", ".webm", ".mts", ".r3d", ".braw")
STILL_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".dpx", ".bmp", ".tga", ".psd")


@dataclass(frozen=True)
class PathMapping:
    """``/Volumes/Media=/mnt/media``: a prefix as the editor wrote it, and as we see it."""

    source: str
    target: str

    @classmethod
    def parse(cls, rule: str) -> PathMapping:
        source, sep, target = rule.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ConfigError(
                f"path mapping {rule!r} is not of the form EDITOR_PREFIX=LOCAL_PREFIX",
                field="path-map",
            )
        return cls(_normalise(source.strip()).rstrip("/"), target.strip().rstrip("/\\"))

    def apply(self, path: str) -> str | None:
        norm = _normalise(path)
        if norm == self.source or norm.startswith(self.source + "/"):
            return self.target + norm[len(self.source) :]
        return None


def _normalise(path: str) -> str:
    """Backslashes to slashes, so Windows and POSIX spellings of a prefix compare equal."""
    return path.replace("\\", "/")


def url_to_path(url: str) -> str:
    """An ExternalReference target URL as a plain path string (not yet checked to exist)."""
    if url.lower().startswith("file:"):
        parsed = urlparse(url)
        path = unquote(parsed.path)
        # file://localhost/D%3a/media/x.mov and file:///D:/x.mov are Windows drive paths.
        if len(path) > 2 and path[0] == "/" and path[2] == ":":
            path = path[1:]
        if parsed.netloc and parsed.netloc.lower() != "localhost":
            path = f"//{parsed.netloc}{path}"  # UNC share
        return path
    return url


def file_name(path: str) -> str:
    """The last component of a path written on any OS."""
    return PureWindowsPath(path).name if "\\" in path else PurePosixPath(path).name


class MediaResolver:
    """Finds each clip's media file; remembers every path it tried, for the error message."""

    def __init__(
        self,
        timeline_path: str | Path | None = None,
        media_roots: Sequence[str | Path] = (),
        mappings: Iterable[PathMapping | str] = (),
        *,
        confine: bool = False,
    ) -> None:
        """``confine``: only files under the roots count (symlinks followed); any other path is
        as good as missing, so a server's answer never tells whether a file exists outside."""
        self.confine = confine
        self.base = Path(timeline_path).resolve().parent if timeline_path else Path.cwd()
        self.roots = [Path(r) for r in media_roots]
        for root in self.roots:
            if not root.is_dir():
                raise ConfigError("media root is not a folder", path=root, field="media-root")
        self.mappings = [
            m if isinstance(m, PathMapping) else PathMapping.parse(m) for m in mappings
        ]
        self._index: dict[str, list[Path]] | None = None

    def resolve(self, clip: otio.schema.Clip) -> Path:
        """The media file for ``clip``, or :class:`MediaNotFoundError` naming what was tried."""
        tried: list[str] = []
        for candidate in self.candidates(clip):
            tried.append(str(candidate))
            if candidate.is_file() and (not self.confine or self._inside(candidate)):
                return candidate
        raise MediaNotFoundError([(clip.name, tried)])

    def _inside(self, path: Path) -> bool:
        real = path.resolve()
        return any(real.is_relative_to(root.resolve()) for root in self.roots)

    def candidates(self, clip: otio.schema.Clip) -> list[Path]:
        ref = clip.media_reference
        written = (
            url_to_path(ref.target_url) if isinstance(ref, otio.schema.ExternalReference) else ""
        )
        out: list[Path] = []
        if written:
            path = Path(written)
            out.append(path if path.is_absolute() else self.base / path)
            out.extend(Path(m) for rule in self.mappings if (m := rule.apply(written)))
        names = [file_name(written)] if written else []
        names.append(clip.name)  # EDLs and some AAFs name media only by the clip's name
        for name in names:
            out.extend(self._by_name(name))
        return list(dict.fromkeys(out))

    def _by_name(self, name: str) -> list[Path]:
        if not name or not self.roots:
            return []
        index = self._build_index()
        hits = index.get(name.lower(), [])
        if not hits and Path(name).suffix.lower() not in VIDEO_SUFFIXES + STILL_SUFFIXES:
            hits = index.get(f"stem:{name.lower()}", [])
        return hits

    def _build_index(self) -> dict[str, list[Path]]:
        """Walk the media roots once; file names (and stems) to paths."""
        if self._index is None:
            index: dict[str, list[Path]] = {}
            for root in self.roots:
                for folder, _dirs, files in os.walk(root):
                    for f in sorted(files):
                        path = Path(folder) / f
                        index.setdefault(f.lower(), []).append(path)
                        index.setdefault(f"stem:{Path(f).stem.lower()}", []).append(path)
            self._index = index
        return self._index


def _is_relative(url: str) -> bool:
    if "://" in url or url.lower().startswith("file:"):
        return False
    return not (url.startswith(("/", "\\")) or PureWindowsPath(url).drive)


def rebase_relative(timeline: otio.schema.Timeline, from_dir: Path, to_dir: Path) -> int:
    """Relative media paths (read against ``from_dir``) rewritten for a timeline saved in
    ``to_dir``, so a result written to another folder keeps its picture online. Returns how
    many references changed; absolute paths and URLs are left as they are."""
    from_dir, to_dir = Path(from_dir).resolve(), Path(to_dir).resolve()
    if from_dir == to_dir:
        return 0
    changed = 0
    for clip in timeline.find_clips():
        refs = [clip.media_reference]
        if hasattr(clip, "media_references"):
            refs = list(clip.media_references().values())
        for ref in refs:
            url = getattr(ref, "target_url", None)
            if not url or not _is_relative(url):
                continue
            target = from_dir / _normalise(url)
            try:
                ref.target_url = Path(os.path.relpath(target, to_dir)).as_posix()
            except ValueError:  # another drive (Windows): no relative path exists
                ref.target_url = target.as_uri()
            changed += 1
    return changed
