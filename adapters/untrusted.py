"""Checks on a timeline file before any OTIO adapter parses it: size, nesting, archive members.

OTIO's JSON reader recurses once per nesting level without a limit (60 000 levels of ``[``
crash the process; 15 000 take 40 s), and ``.otioz`` is a zip that the adapter inflates in
memory. These checks run without recursion and without inflating anything whole, so a
hostile file is refused with a clear error by the CLI and the server alike, before it can
hurt. They bound what a legitimate timeline never comes near: real OTIO files nest about
a dozen levels deep, compress 5-20x, and are a few MB.
"""

from __future__ import annotations

import logging
import xml.parsers.expat
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import TimelineReadError

logger = logging.getLogger(__name__)

_CHUNK = 4 * 1024 * 1024
_OPEN = np.zeros(256, dtype=np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1
_QUOTE = ord('"')
_INTEREST = _OPEN != 0
_INTEREST[_QUOTE] = True


@dataclass(frozen=True)
class Limits:
    """How far an untrusted timeline may go."""

    max_depth: int = 256  # nesting levels of JSON arrays/objects or XML elements
    max_text_bytes: int = 256 * 1024 * 1024  # a timeline's text, after any decompression
    max_members: int = 10_000  # files inside an .otioz
    max_member_bytes: int = 1024 * 1024 * 1024  # one inflated member (media is stored, not parsed)
    max_ratio: float = 100.0  # inflated / compressed, per member


DEFAULT_LIMITS = Limits()


def check_timeline_file(
    path: str | Path, adapter: str, limits: Limits = DEFAULT_LIMITS, *, name: str | None = None
) -> None:
    """Refuse a file the ``adapter`` should not be given; ``name`` is how errors call it."""
    path = Path(path)
    shown = name or path
    if adapter == "otio_json":
        _check_size(path.stat().st_size, limits, shown)
        with open(path, "rb") as fh:
            json_depth(_chunks(fh), limits, shown)
    elif adapter == "otioz":
        _check_otioz(path, limits, shown)
    elif adapter == "otiod":
        content = path / "content.otio"
        if not content.is_file():
            raise TimelineReadError(".otiod folder has no content.otio", path=shown)
        _check_size(content.stat().st_size, limits, shown)
        with open(content, "rb") as fh:
            json_depth(_chunks(fh), limits, shown)
    elif adapter in ("fcp_xml", "fcpx_xml", "hiero_xml") or path.suffix.lower() == ".xml":
        _check_size(path.stat().st_size, limits, shown)
        with open(path, "rb") as fh:
            xml_depth(_chunks(fh), limits, shown)
    else:  # line formats (EDL) need no nesting check; size still bounds the parse
        _check_size(path.stat().st_size, limits, shown)


def _chunks(fh) -> Iterator[bytes]:
    while chunk := fh.read(_CHUNK):
        yield chunk


def _check_size(size: int, limits: Limits, shown) -> None:
    if size > limits.max_text_bytes:
        raise TimelineReadError(
            f"timeline text is {size} bytes, over the limit of {limits.max_text_bytes}", path=shown
        )


def json_depth(chunks: Iterable[bytes], limits: Limits = DEFAULT_LIMITS, shown=None) -> int:
    """The deepest nesting of arrays and objects, scanned in chunks, strings skipped.

    Escapes are removed first (``\\\\`` pairs, then ``\\"``), so every remaining quote opens or
    closes a string; brackets between an odd and an even quote are text. A file whose brackets
    do not balance is refused as truncated, so OTIO never sees it either.
    """
    depth, deepest, in_string, carry = 0, 0, False, b""
    for raw in chunks:
        data = carry + raw
        carry = b""
        if data.endswith(b"\\"):  # an escape split across chunks: finish it with the next one
            trailing = len(data) - len(data.rstrip(b"\\"))
            if trailing % 2:
                data, carry = data[:-1], b"\\"
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
        codes = np.frombuffer(data, dtype=np.uint8)
        codes = codes[_INTEREST[codes]]  # brackets and quotes only: a few percent of the text
        quotes = codes == _QUOTE
        parity = np.cumsum(quotes, dtype=np.int64) & 1  # 1 inside a string (or on its opening)
        outside = (parity == 0) if not in_string else (parity == 1)
        steps = np.where(outside & ~quotes, _OPEN[codes], 0).astype(np.int64)
        if steps.size:
            levels = depth + np.cumsum(steps)
            if levels.min(initial=depth) < 0:
                raise TimelineReadError("timeline JSON closes more than it opens", path=shown)
            deepest = max(deepest, int(levels.max(initial=depth)))
            depth = int(levels[-1])
        in_string ^= bool(quotes.sum() & 1)
        if deepest > limits.max_depth:
            raise TimelineReadError(
                f"timeline JSON nests deeper than {limits.max_depth} levels; refused", path=shown
            )
    if depth != 0 or in_string:
        raise TimelineReadError("timeline JSON ends before it closes (truncated?)", path=shown)
    return deepest


def xml_depth(chunks: Iterable[bytes], limits: Limits = DEFAULT_LIMITS, shown=None) -> int:
    """The deepest element nesting, by expat (iterative); entity declarations are refused."""
    parser = xml.parsers.expat.ParserCreate()
    state = {"depth": 0, "deepest": 0}

    def start(name, attrs) -> None:
        state["depth"] += 1
        if state["depth"] > limits.max_depth:
            raise TimelineReadError(
                f"timeline XML nests deeper than {limits.max_depth} levels; refused", path=shown
            )
        state["deepest"] = max(state["deepest"], state["depth"])

    def end(name) -> None:
        state["depth"] -= 1

    def entity(*args) -> None:
        raise TimelineReadError("timeline XML declares entities; refused", path=shown)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.EntityDeclHandler = entity
    try:
        for chunk in chunks:
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except xml.parsers.expat.ExpatError as exc:
        raise TimelineReadError(f"timeline XML is malformed: {exc}", path=shown) from None
    return state["deepest"]


def _check_otioz(path: Path, limits: Limits, shown) -> None:
    """Members counted and sized from the archive's directory; the timeline inflated in chunks.

    Python's zipfile never inflates a member past its declared size, so declared sizes bound
    what the adapter can be made to hold.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise TimelineReadError(
            f".otioz is not a readable zip archive: {exc}", path=shown
        ) from None
    with archive:
        members = archive.infolist()
        if len(members) > limits.max_members:
            raise TimelineReadError(
                f".otioz holds {len(members)} files, over the limit of {limits.max_members}",
                path=shown,
            )
        content = None
        for info in members:
            if info.file_size > limits.max_member_bytes:
                raise TimelineReadError(
                    f".otioz member {info.filename!r} inflates to {info.file_size} bytes, "
                    f"over the limit of {limits.max_member_bytes}",
                    path=shown,
                )
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > 1024 * 1024 and ratio > limits.max_ratio:
                raise TimelineReadError(
                    f".otioz member {info.filename!r} inflates {ratio:.0f}x, over the limit of "
                    f"{limits.max_ratio:.0f}x (a zip bomb?)",
                    path=shown,
                )
            if info.filename == "content.otio":
                content = info
        if content is None:
            raise TimelineReadError(".otioz has no content.otio", path=shown)
        _check_size(content.file_size, limits, shown)
        try:
            with archive.open(content) as fh:
                json_depth(_chunks(fh), limits, shown)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise TimelineReadError(f".otioz content.otio is damaged: {exc}", path=shown) from None
