"""Which backends the server can run, which it has loaded, and on which device.

The server loads the default backends once at startup (health says NOT_SERVING until then),
so the first job does not pay for imports, and ListBackends reports what is really there.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sonicvision.server import backends

logger = logging.getLogger(__name__)

DEFAULTS = {"detector": "motion", "describer": "none", "generator": "procedural"}
REGISTRIES: dict[str, dict] = {
    "detector": backends.DETECTORS,
    "describer": backends.DESCRIBERS,
    "generator": backends.GENERATORS,
}
BUILDERS: dict[str, Callable[[str], object]] = {
    "detector": backends.build_detector,
    "describer": backends.build_describer,
    "generator": backends.build_generator,
}
MODEL_KINDS = {"r2plus1d": "detector", "vlm": "describer", "ldm": "generator"}
# The paper's backends are registered everywhere but usable only with the ``gpu`` extra.
NEEDS_MODULES = {
    "ldm": ("torch", "diffusers", "transformers"),
    "r2plus1d": ("torch", "torchvision"),
    "vlm": ("torch", "transformers"),
}


def _available(name: str) -> bool:
    return all(importlib.util.find_spec(m) for m in NEEDS_MODULES.get(name, ()))


@dataclass(frozen=True)
class BackendInfo:
    kind: str
    name: str
    available: bool
    loaded: bool
    device: str
    description: str


def _summary(obj: object) -> str:
    doc = (type(obj).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


class BackendTable:
    """Loads the defaults, remembers what loaded where, and lists every known backend."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, str], BackendInfo] = {}

    def warm_up(self) -> None:
        for kind, spec in DEFAULTS.items():
            backend = BUILDERS[kind](spec)
            device = str(getattr(backend, "device", "cpu"))
            info = BackendInfo(kind, spec, True, True, device, _summary(backend))
            with self._lock:
                self._loaded[(kind, spec)] = info
            logger.info("loaded %s backend %r on %s", kind, spec, device)

    def rows(self) -> list[BackendInfo]:
        with self._lock:
            loaded = dict(self._loaded)
        rows = []
        for kind, registry in REGISTRIES.items():
            for name in registry:
                rows.append(
                    loaded.get((kind, name))
                    or BackendInfo(kind, name, _available(name), False, "cpu", f"{kind} {name!r}")
                )
        for name, text in backends.MODEL_BACKENDS.items():
            rows.append(
                BackendInfo(
                    MODEL_KINDS.get(name, ""), name, False, False, "", f"{text} (not in this build)"
                )
            )
        return rows
