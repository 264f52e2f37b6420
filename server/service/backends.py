"""Which backends the server can run, which it has loaded, and on which device.

The server loads the default backends once at startup (health says NOT_SERVING until then),
so the first job does not pay for imports, and ListBackends reports what is really there.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sonicvision.server import backends
from sonicvision.server.options import DEFAULTS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackendInfo:
    kind: str
    name: str
    available: bool
    loaded: bool
    device: str
    description: str


class BackendTable:
    """Loads the defaults, remembers what loaded where, and lists every known backend."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, str], BackendInfo] = {}

    def warm_up(self) -> None:
        for kind in backends.KINDS:
            spec = getattr(DEFAULTS, kind)
            entry, argument = backends.find(kind, spec)
            backend = entry.build(argument)
            device = str(getattr(backend, "device", "cpu"))
            info = BackendInfo(kind, spec, True, True, device, entry.summary)
            with self._lock:
                self._loaded[(kind, spec)] = info
            logger.info("loaded %s backend %r on %s", kind, spec, device)

    def rows(self) -> list[BackendInfo]:
        with self._lock:
            loaded = dict(self._loaded)
        return [
            loaded.get((b.kind, b.name))
            or BackendInfo(b.kind, b.name, b.available(), False, "cpu", b.summary)
            for b in backends.BACKENDS
        ]
