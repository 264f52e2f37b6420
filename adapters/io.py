"""Read any timeline OTIO and its plugins can read; write results without touching the input.

Formats come from OTIO's adapter manifest (by file suffix); we write no parser of our own.
Writes go to a temporary file beside the target and are linked into place, so a failed or
interrupted write leaves nothing behind and an existing file is never replaced.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from .errors import TimelineReadError, TimelineWriteError
from .untrusted import check_timeline_file

logger = logging.getLogger(__name__)

# Formats whose writers can hold extra audio tracks and per-clip metadata.
WRITABLE = {"otio_json", "otioz", "otiod", "fcp_xml"}
# NTSC rates editors type as decimals, and the exact rates they mean.
_NTSC = {
    "23.976": Fraction(24000, 1001),
    "23.98": Fraction(24000, 1001),
    "29.97": Fraction(30000, 1001),
    "47.952": Fraction(48000, 1001),
    "59.94": Fraction(60000, 1001),
    "119.88": Fraction(120000, 1001),
}


def parse_rate(text: str | float | None, *, field: str = "rate") -> float | None:
    """'23.976', '29.97', '24000/1001' or 25 -> frames per second (NTSC rates made exact)."""
    return None if text is None else float(exact_rate(text, field=field))


def exact_rate(text: str | float, *, field: str = "rate") -> Fraction:
    """A rate as editors and NLEs write it ('29.97 DF', '23.976') as an exact fraction."""
    raw = re.sub(r"\s*N?DF$", "", str(text).strip().upper())
    try:
        value = Fraction(_NTSC[raw]) if raw in _NTSC else Fraction(raw)
    except (ValueError, ZeroDivisionError):
        raise TimelineReadError(f"{text!r} is not a frame rate", field=field) from None
    if not 1 <= value <= 1000:
        raise TimelineReadError(f"frame rate {text!r} is outside 1..1000 fps", field=field)
    return value


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
    if adapter != "cmx_3600" and fps is not None:
        logger.info("--rate %s ignored: %s carries its own rate", rate, path.name)
    return timeline


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
