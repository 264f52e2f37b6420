"""Where a job's pictures are analysed: in the server (``local``) or on a Ray cluster (``ray``).

The front door (gRPC/HTTP, the SQLite store, the one job thread) is the same for both. With
Ray, the analysis of each visible picture clip (decode, cuts, detection) is one Ray task, run
in parallel across the cluster's CPUs; describing, rendering and the write-back stay in the
front door, so the result is the local one, byte for byte. Ray is the ``cluster`` extra:
nothing here imports it unless the ray engine is asked for.
"""

from __future__ import annotations

import copyreg
import functools
import logging
from collections.abc import Callable
from dataclasses import replace

import opentimelineio as otio

from sonicvision.adapters.media import MediaResolver
from sonicvision.adapters.picture import visible_picture
from sonicvision.errors import ConfigError
from sonicvision.server.backends import FRESH, Provider
from sonicvision.server.detect.base import Detection
from sonicvision.server.options import FoleyOptions
from sonicvision.server.pipeline import Progress, scan_picture
from sonicvision.server.shots import ShotList, find_shots

from .spec import Runner, run_pipeline

logger = logging.getLogger(__name__)

ENGINES = ("local", "ray")
TimeRange = otio.opentime.TimeRange
RationalTime = otio.opentime.RationalTime

# OTIO's times do not pickle; shots carry them between processes.
copyreg.pickle(RationalTime, lambda t: (RationalTime, (t.value, t.rate)))
copyreg.pickle(TimeRange, lambda r: (TimeRange, (r.start_time, r.duration)))


class LocalEngine:
    """Today's server: the job thread analyses every clip itself."""

    name = "local"

    def runner(self) -> Runner:
        return run_pipeline

    def close(self) -> None:
        return None


def _scan_clip(
    timeline_json: str,
    resolver: MediaResolver,
    options: FoleyOptions,
    number: int,
    fault: Callable[[int], None] | None,
) -> tuple[ShotList, dict[int, Detection]]:
    """One Ray task: the shots and detections of visible picture clip ``number``."""
    if fault is not None:
        fault(number)  # tests: a worker that dies here
    timeline = otio.adapters.read_from_string(timeline_json, "otio_json")
    return scan_picture(timeline, resolver, options, clips=[number])


def merge(base: ShotList, parts: list[tuple[ShotList, dict[int, Detection]]]):
    """Per-clip results, in clip order, as one timeline's: shots renumbered as ``find_shots``
    numbers them, notes in the order and without the repeats of a local run."""
    shots = ShotList(notes=list(base.notes), skipped=list(base.skipped))
    detections: dict[int, Detection] = {}
    for part, found in parts:
        offset = len(shots.shots)
        shots.shots += [replace(s, index=offset + s.index) for s in part.shots]
        detections.update({offset + k: v for k, v in found.items()})
        shots.notes += [n for n in part.notes if n not in shots.notes]
    return shots, detections


class RayEngine:
    """Clips analysed as Ray tasks (``num_cpus=1``, retried when a worker is lost).

    Connects to ``address`` (``auto``, ``ray://host:10001``, ``host:6379``) or, with none and
    no Ray running in this process, starts a Ray on this machine. ``fault`` is for tests.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        max_retries: int = 3,
        poll_s: float = 0.05,
        fault: Callable[[int], None] | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "--engine ray needs Ray: pip install 'sonicvision[cluster]'", field="engine"
            ) from None
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self.poll_s, self.fault = poll_s, fault
        self._task = ray.remote(num_cpus=1, max_retries=max_retries)(_scan_clip)

    def runner(self) -> Runner:
        return functools.partial(run_pipeline, scan=self.scan)

    def scan(
        self,
        timeline: otio.schema.Timeline,
        resolver: MediaResolver,
        options: FoleyOptions,
        progress: Progress,
        backends: Provider = FRESH,
    ) -> tuple[ShotList, dict[int, Detection]]:
        """As ``scan_picture``; media checked here first, then one task per clip."""
        ray = self._ray
        base = find_shots(timeline, resolver, allow_missing=options.allow_missing, clips=())
        count = len(visible_picture(timeline)[0])
        text = ray.put(otio.adapters.write_to_string(timeline, "otio_json"))  # sent once a node
        refs = [self._task.remote(text, resolver, options, n, self.fault) for n in range(count)]
        check = getattr(progress, "check", None)
        try:
            progress("shots", 0, count)
            pending, done = list(refs), 0
            while pending:
                ready, pending = ray.wait(pending, num_returns=1, timeout=self.poll_s)
                if ready:
                    done += len(ready)
                    progress("shots", done, count)
                elif check is not None:
                    check()
            parts = ray.get(refs)
        except BaseException as exc:
            for ref in refs:
                ray.cancel(ref, force=True)
            logger.info("job stopped: %d analysis tasks cancelled", len(refs))
            cause = getattr(exc, "cause", None)
            if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(cause, Exception):
                raise cause from None  # the typed error the task raised, as a local run's
            raise
        return merge(base, parts)

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()


def make_engine(name: str, address: str | None = None) -> LocalEngine | RayEngine:
    if name == "local":
        if address:
            raise ConfigError("--ray-address needs --engine ray", field="ray-address")
        return LocalEngine()
    if name == "ray":
        return RayEngine(address)
    raise ConfigError(f"unknown engine {name!r}: one of {', '.join(ENGINES)}", field="engine")
