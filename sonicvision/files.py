"""Writing files so that nobody ever sees half of one, and nothing is clobbered by accident.

Every file SonicVision writes goes through here: it is written beside its final name under a
hidden temporary name, flushed, then moved into place in one step. Temporary files are made
with the user's umask (``tempfile.mkstemp`` would make them 0600, and a linked or renamed
file keeps that: unreadable to the rest of a shared-storage team and to a server's clients).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_beside(path: Path, suffix: str = ".part") -> Path:
    """A new, empty, hidden file next to ``path`` (created exclusively, umask respected)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp


@contextmanager
def replacing(path: Path, suffix: str = ".part") -> Iterator[Path]:
    """``with replacing(p) as tmp: write tmp`` -> ``p`` replaced in one step, or left as it was.

    The temporary file is removed if the block fails (Ctrl-C included).
    """
    tmp = temp_beside(path, suffix)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, data: object, **dump_options) -> None:
    write_text(path, json.dumps(data, **dump_options))


def link_new(tmp: Path, target: Path) -> None:
    """Move a finished ``tmp`` to ``target`` only if ``target`` does not exist.

    A hard link is atomic and fails if the name was taken meanwhile (``FileExistsError``);
    where a file system has no hard links (some network shares), a checked rename is the
    best there is. ``tmp`` is gone afterwards either way.
    """
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:
        if target.exists():
            raise FileExistsError(str(target)) from None
        os.replace(tmp, target)
        return
    tmp.unlink()


def _fsync(path: Path) -> None:
    if path.is_dir():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
