"""The backends the server holds warm, which ones it can run, and on which device.

Every job gets its detector, describer and generator from one :class:`BackendTable`: a cache
keyed by the backend spec (``ldm:/models/tango,steps=25``), so the second job with a model
does not load it again. It is bounded by a memory budget (the bytes of the models' weights),
least recently used first out; one copy of a spec per server, so one per device it names.
The defaults are loaded at startup (health says NOT_SERVING until then), and ListBackends
reports what is resident where.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sonicvision.server import backends
from sonicvision.server.options import DEFAULTS

logger = logging.getLogger(__name__)

DEFAULT_BUDGET = 24 * 1024**3  # bytes of resident weights before the least recent goes


@dataclass(frozen=True)
class BackendInfo:
    kind: str
    name: str
    available: bool
    loaded: bool
    device: str
    description: str


@dataclass
class Resident:
    """One built backend kept in memory."""

    kind: str
    spec: str
    backend: Any
    device: str
    bytes: int
    load_s: float
    uses: int = 0


def footprint(backend: Any, depth: int = 3) -> int:
    """Bytes of the torch weights a backend holds (parameters and buffers, each counted once);
    0 for the embedded backends, which hold none."""
    torch = sys.modules.get("torch")
    if torch is None:
        return 0
    seen: set[int] = set()
    total = 0

    def walk(value: Any, left: int) -> None:
        nonlocal total
        if id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, torch.nn.Module):
            for tensor in (*value.parameters(), *value.buffers()):
                if id(tensor) not in seen:
                    seen.add(id(tensor))
                    total += tensor.numel() * tensor.element_size()
            return
        if left and hasattr(value, "__dict__") and not isinstance(value, type):
            for item in vars(value).values():
                walk(item, left - 1)

    walk(backend, depth)
    return total


class BackendTable:
    """The warm cache (``get`` is the pipeline's backend provider) and the ListBackends rows."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET, data_dir: Path | None = None) -> None:
        self.budget_bytes = budget_bytes
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._building = threading.Lock()  # one load at a time: two would double the memory
        self._resident: OrderedDict[tuple[str, str], Resident] = OrderedDict()

    def get(self, kind: str, spec: str) -> Any:
        """The backend for ``spec``, built once and shared by every job after."""
        key = (kind, spec.strip())
        with self._lock:
            if (hit := self._resident.get(key)) is not None:
                self._resident.move_to_end(key)
                hit.uses += 1
                return hit.backend
        with self._building:
            with self._lock:
                if (hit := self._resident.get(key)) is not None:
                    hit.uses += 1
                    return hit.backend
            started = time.perf_counter()
            built = self._build(kind, key[1])
            resident = Resident(
                kind,
                key[1],
                built,
                str(getattr(built, "device", "cpu")),
                footprint(built),
                time.perf_counter() - started,
                uses=1,
            )
            with self._lock:
                self._resident[key] = resident
                self._evict(keep=key)
            logger.info(
                "loaded %s backend %r on %s (%.1f MB, %.2f s)",
                kind,
                key[1],
                resident.device,
                resident.bytes / 1e6,
                resident.load_s,
            )
            return built

    def _build(self, kind: str, spec: str) -> Any:
        entry, argument = backends.find(kind, spec)
        if (kind, entry.name) == ("generator", "library") and self.data_dir is not None:
            from sonicvision.server.generate.library import LibraryGenerator

            return LibraryGenerator(Path(argument or ""), cache_dir=self.data_dir / "library")
        return entry.build(argument)

    def _evict(self, keep: tuple[str, str]) -> None:
        """Least recently used out while over the budget; the one just loaded stays."""
        while sum(r.bytes for r in self._resident.values()) > self.budget_bytes:
            key = next((k for k in self._resident if k != keep), None)
            if key is None:
                return
            gone = self._resident.pop(key)
            logger.info("unloaded %s backend %r (%.1f MB)", gone.kind, gone.spec, gone.bytes / 1e6)

    def warm_up(self) -> None:
        for kind in backends.KINDS:
            self.get(kind, getattr(DEFAULTS, kind))

    def resident(self) -> list[Resident]:
        with self._lock:
            return list(self._resident.values())

    def rows(self) -> list[BackendInfo]:
        """Every backend the registry knows (loaded or not), then each resident spec."""
        loaded = {(r.kind, backends.split(r.spec)[0]): r for r in self.resident()}
        rows = []
        for b in backends.BACKENDS:
            hit = loaded.get((b.kind, b.name))
            rows.append(
                BackendInfo(
                    b.kind,
                    b.name,
                    True if hit else b.available(),
                    hit is not None,
                    hit.device if hit else "cpu",
                    b.summary,
                )
            )
        for r in self.resident():
            if r.spec != backends.split(r.spec)[0]:  # a spec with an argument: say which
                rows.append(
                    BackendInfo(
                        r.kind,
                        r.spec,
                        True,
                        True,
                        r.device,
                        f"resident: {r.bytes / 1e6:.1f} MB of weights, loaded in "
                        f"{r.load_s:.2f} s, used by {r.uses} runs",
                    )
                )
        return rows
