"""Read any timeline OTIO and its plugins can read; write results without touching the input.

Formats come from OTIO's adapter manifest (by file suffix); we write no parser of our own.
Writes go to a temporary file beside the target and are linked into place, so a failed or
interrupted write leaves nothing behind and an existing file is never replaced.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from pathlib import Path

import opentimelineio as otio

from .errors import TimelineReadError, TimelineWriteError
from .timecode import apply_aaf_facts, apply_edl_facts, parse_rate
from .tracks import with_fcp_file_facts
from .untrusted import check_timeline_file

logger = logging.getLogger(__name__)

__all__ = [
    "adapter_for",
    "check_output_path",
    "parse_rate",
    "read_timeline",
    "write_timeline",
]

# Formats whose writers can hold extra audio tracks and per-clip metadata.
WRITABLE = {"otio_json", "otioz", "otiod", "fcp_xml"}


def adapter_for(path: Path) -> str:
    """The OTIO adapter name for a file, by its suffix, or a clear error listing the choices."""
    try:
        return otio.adapters.from_filepath(str(path)).name
    except otio.exceptions.NoKnownAdapterForExtensionError:
        known = sorted(
            {s for a in otio.adapters.plugins.ActiveManifest().adapters for s in a.suffixes}
        )
        raise TimelineReadError(
            f"unknown timeline format {path.suffix or '(no extension)'!r}; "
            f"known: {', '.join('.' + s for s in known)}",
            path=path,
        ) from None


def read_timeline(
    path: str | Path, *, rate: str | float | None = None, timeline_name: str | None = None
) -> otio.schema.Timeline:
    """Read an editor's timeline. EDLs carry no rate, so ``rate`` is required for them."""
    path = Path(path)
    if not path.exists():
        raise TimelineReadError("timeline file does not exist", path=path)
    adapter = adapter_for(path)
    if adapter != "otiod" and not path.is_file():
        raise TimelineReadError("timeline path is not a regular file", path=path)
    check_timeline_file(path, adapter)  # size and nesting first: OTIO's readers recurse
    kwargs: dict = {}
    fps = parse_rate(rate)
    if adapter == "cmx_3600":
        if fps is None:
            raise TimelineReadError(
                "EDL files carry no frame rate: pass --rate (e.g. --rate 23.976)", path=path
            )
        kwargs["rate"] = fps
    try:
        result = otio.adapters.read_from_file(str(path), adapter_name=adapter, **kwargs)
    except Exception as exc:  # adapters raise anything from ValueError to KeyError
        hint = f" at --rate {rate}" if adapter == "cmx_3600" else ""
        raise TimelineReadError(
            f"could not read as {adapter}{hint}: {type(exc).__name__}: {exc}", path=path
        ) from exc
    timeline = _pick_timeline(result, path, timeline_name)
    if adapter == "cmx_3600":
        apply_edl_facts(timeline, path, fps)
    elif adapter == "AAF":
        apply_aaf_facts(timeline, path)
    if adapter != "cmx_3600" and fps is not None:
        logger.info("--rate %s ignored: %s carries its own rate", rate, path.name)
    check_times(timeline, path)
    return timeline


MAX_RATE = 1_000_000.0  # audio items count samples (48000, 192000); nothing counts faster
MAX_SECONDS = 30 * 24 * 3600.0  # a month: no edit is longer


def _bad_time(t: otio.opentime.RationalTime, may_be_negative: bool) -> str | None:
    if not (math.isfinite(t.rate) and 0 < t.rate <= MAX_RATE):
        return f"rate {t.rate!r}"
    if not math.isfinite(t.value) or abs(t.value / t.rate) > MAX_SECONDS:
        return f"value {t.value!r} at rate {t.rate!r}"
    if t.value < 0 and not may_be_negative:
        return f"negative value {t.value!r}"
    return None


def check_times(timeline: otio.schema.Timeline, path: Path) -> None:
    """Every time in the file is a number a timeline can hold (a rate of 0 or NaN, a negative
    length or one of a billion years would otherwise fail deep inside, as a traceback)."""

    def check(what: str, where: str, span: otio.opentime.TimeRange | None) -> None:
        if span is None:
            return
        for part, t, negative_ok in (
            ("start", span.start_time, True),
            ("duration", span.duration, False),
        ):
            problem = _bad_time(t, negative_ok)
            if problem:
                raise TimelineReadError(f"{where}: {what} {part} has {problem}", path=path)

    if timeline.global_start_time is not None:
        problem = _bad_time(timeline.global_start_time, False)
        if problem:
            raise TimelineReadError(f"timeline start has {problem}", path=path)
    for marker in timeline.tracks.markers:
        check("marker", f"marker {marker.name!r}", marker.marked_range)
    for item in timeline.find_children():
        name = f"{type(item).__name__.lower()} {item.name!r}"
        check("source range", name, getattr(item, "source_range", None))
        for marker in getattr(item, "markers", ()):
            check("marker", f"marker {marker.name!r} on {name}", marker.marked_range)
        ref = getattr(item, "media_reference", None)
        if ref is not None:
            check("media's available range", name, ref.available_range)


def _pick_timeline(result, path: Path, name: str | None) -> otio.schema.Timeline:
    if isinstance(result, otio.schema.Timeline):
        return result
    timelines = []
    if isinstance(result, otio.schema.SerializableCollection):
        timelines = list(result.find_children(descended_from_type=otio.schema.Timeline))
    if name is not None:
        timelines = [t for t in timelines if t.name == name]
    if len(timelines) == 1:
        return timelines[0]
    names = ", ".join(repr(t.name) for t in timelines) or "none"
    raise TimelineReadError(
        f"file holds {len(timelines)} timelines ({names}); choose one by name",
        path=path,
        field="timeline",
    )


def check_output_path(out: str | Path, *, inputs: list[str | Path] = ()) -> Path:
    """Refuse outputs that would damage anything: the input, an existing file, odd paths."""
    text = os.fspath(out)
    if "\x00" in text or not text.strip():
        raise TimelineWriteError("output path is empty or contains a NUL byte", path=repr(text))
    out = Path(text)
    parent = out.parent.resolve()
    if not parent.is_dir():
        raise TimelineWriteError("output folder does not exist", path=out)
    if out.is_symlink():
        raise TimelineWriteError("output path is a symbolic link; refusing to follow it", path=out)
    target = parent / out.name
    for src in map(Path, inputs):
        same_file = target.exists() and src.exists() and os.path.samefile(target, src)
        if same_file or src.resolve() == target:
            raise TimelineWriteError(
                "output is the input timeline; the editor's timeline is never overwritten",
                path=out,
            )
    if target.exists():
        raise TimelineWriteError(
            "output already exists; SonicVision never overwrites a file (choose a new name)",
            path=out,
        )
    return target


def write_timeline(
    timeline: otio.schema.Timeline, out: str | Path, *, inputs: list[str | Path] = ()
) -> Path:
    """Write ``timeline`` to ``out`` (format by suffix) atomically; never replace a file."""
    target = check_output_path(out, inputs=inputs)
    try:
        adapter = adapter_for(target)
    except TimelineReadError as exc:
        raise TimelineWriteError(exc.message, path=target) from None
    if adapter not in WRITABLE:
        raise TimelineWriteError(
            f"{adapter} cannot hold the generated audio tracks and their metadata; "
            "write .otio (or .xml for Premiere) instead",
            path=target,
        )
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=target.suffix + ".part", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # adapters create the file (or folder, for .otiod) themselves
    try:
        if adapter == "fcp_xml":
            timeline = with_fcp_file_facts(timeline)
        otio.adapters.write_to_file(timeline, str(tmp), adapter_name=adapter)
        _link_into_place(tmp, target)
    except TimelineWriteError:
        raise
    except Exception as exc:
        raise TimelineWriteError(
            f"could not write as {adapter}: {type(exc).__name__}: {exc}", path=target
        ) from exc
    finally:
        _remove(tmp)
    return target


def _link_into_place(tmp: Path, target: Path) -> None:
    """Atomic and never clobbering: a hard link fails if the target appeared meanwhile."""
    if target.exists():
        raise TimelineWriteError("output appeared while writing; not replaced", path=target)
    try:
        if tmp.is_dir():
            os.rename(tmp, target)  # a folder: rename fails onto a non-empty folder
        else:
            os.link(tmp, target)
    except FileExistsError:
        raise TimelineWriteError(
            "output appeared while writing; not replaced", path=target
        ) from None
    except OSError as exc:
        if tmp.is_dir() or target.exists():
            raise TimelineWriteError(
                f"could not move the result into place: {exc}", path=target
            ) from exc
        os.replace(tmp, target)  # no hard links here (some network shares): plain rename


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in sorted(path.rglob("*"), reverse=True):
            child.rmdir() if child.is_dir() else child.unlink()
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()
