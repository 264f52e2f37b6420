"""Where a job's work runs: in the server (``local``) or on a Ray cluster (``ray``).

The front door (gRPC/HTTP, the SQLite store, the one job thread) is the same for both. With
Ray, the analysis of each visible picture clip (decode, cuts, detection) is one Ray task, run
in parallel across the cluster's CPUs, and the sounds of each batch of events are made on
render actors that keep their models warm (one per GPU, or ``render_actors`` on CPUs);
describing, placing the sounds on frames, writing the WAVs and the timeline stay in the front
door. Seeds are per event and batches are the local ones, so the result is the local one,
byte for byte. Ray is the ``cluster`` extra: nothing here imports it unless asked for.
"""

from __future__ import annotations

import copyreg
import functools
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import opentimelineio as otio

from sonicvision.adapters.media import MediaResolver
from sonicvision.adapters.picture import visible_picture
from sonicvision.errors import ConfigError, RenderError
from sonicvision.server.backends import FRESH, Provider, find
from sonicvision.server.detect.base import Detection
from sonicvision.server.guide import Listening
from sonicvision.server.options import FoleyOptions
from sonicvision.server.pipeline import Batch, Made, Progress, scan_picture, synthesize_batches
from sonicvision.server.shots import ShotList, find_shots

from .backends import BackendTable
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

    def describe(self) -> dict:
        return {"engine": self.name}

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


class RenderActor:
    """One render actor (a Ray actor: one per GPU, or a CPU process): its own warm backend
    cache, so a model loads once per actor, not once per batch or per job."""

    def __init__(self, fault: Callable[[int], None] | None = None) -> None:
        # a node's own cache folder (a library's index): nothing written into media roots
        self.table = BackendTable(data_dir=Path(tempfile.gettempdir()) / "sonicvision-render")
        self.fault = fault

    def render(
        self, generator: str, chunk: Batch, number: int, threads: int | None = None
    ) -> tuple[Made, list[str], dict]:
        """Batch ``number``'s sounds and fallback notes, as ``synthesize_batches`` makes them
        here, and who made them (pid, what is resident, how often each was used). ``threads``:
        the front door's torch threads, used here too: a float sum over 1 thread and over 2
        differs in its last bits, and so would the WAVs (Ray gives an actor 1 by default)."""
        if self.fault is not None:
            self.fault(number)  # tests: an actor that dies or hangs here
        batches = synthesize_batches(generator, [chunk], self.table)  # the generator, built
        torch = sys.modules.get("torch")
        if threads and torch is not None and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        made, said = next(batches)
        return made, said, self.who()

    def who(self) -> dict:
        resident = {f"{r.kind}:{r.spec}": r.uses for r in self.table.resident()}
        return {"pid": os.getpid(), "resident": resident}


def torch_threads(generator: str) -> int | None:
    """The torch threads a local run of ``generator`` renders with here (None: no torch)."""
    entry, _ = find("generator", generator)
    if "torch" not in sys.modules and "torch" not in entry.needs:
        return None
    import torch  # a model generator: torch is what the local run would load anyway

    return torch.get_num_threads()


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
    """Clips analysed as Ray tasks (``num_cpus=1``, retried when a worker is lost); batches
    of sounds made on render actors (restarted and their batch retried when lost).

    Connects to ``address`` (``auto``, ``ray://host:10001``, ``host:6379``) or, with none and
    no Ray running in this process, starts a Ray on this machine. Render actors: one per GPU
    of the cluster (``num_gpus=1``), or ``render_actors`` of them; on a cluster without GPUs,
    ``render_actors`` CPU processes (default 1); 0 renders in the front door. They start with
    the first job that renders and stay up, models warm, until ``close``; each batch goes to
    the first actor free. A Ray started here is bounded by ``num_cpus`` and
    ``object_store_mb`` (default: all of this machine) and listens on loopback only. ``fault``
    and ``render_fault`` are for tests.
    """

    name = "ray"
    KEEP_RENDERED = 1000  # the last batches' makers kept in ``rendered``

    def __init__(
        self,
        address: str | None = None,
        *,
        max_retries: int = 3,
        poll_s: float = 0.05,
        fault: Callable[[int], None] | None = None,
        render_actors: int | None = None,
        render_fault: Callable[[int], None] | None = None,
        grace_s: float = 1.0,
        num_cpus: int | None = None,
        object_store_mb: int | None = None,
        per_actor: int = 2,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "--engine ray needs Ray: pip install 'sonicvision[cluster]'", field="engine"
            ) from None
        self._ray = ray
        self._owns = not ray.is_initialized()
        joining = address or os.environ.get("RAY_ADDRESS")
        if num_cpus is not None and num_cpus < 1:
            raise ConfigError(f"--ray-cpus {num_cpus}: 1 or more", field="ray-cpus")
        if joining and (num_cpus is not None or object_store_mb is not None):
            raise ConfigError(
                "--ray-cpus and --ray-object-store-mb bound the Ray this server starts; a "
                f"cluster it joins ({joining}) has the resources its `ray start` gave it",
                field="ray-cpus",
            )
        if self._owns:
            self._start(ray, address, num_cpus, object_store_mb)
        self.address = joining or "local"
        self.poll_s, self.fault, self.per_actor = poll_s, fault, max(1, per_actor)
        self._task = ray.remote(num_cpus=1, max_retries=max_retries)(_scan_clip)
        gpus = int(ray.cluster_resources().get("GPU", 0))
        actors = (gpus or 1) if render_actors is None else render_actors
        if actors < 0 or (gpus and actors > gpus):
            self.close()
            limit = f"the cluster has {gpus} GPUs, one actor each" if gpus else "0 or more"
            raise ConfigError(f"--render-actors {actors}: {limit}", field="render-actors")
        self.render_actors, self.render_gpus = actors, 1 if gpus else 0
        self.render_fault, self.grace_s = render_fault, grace_s
        # GPU actors hold a GPU each; CPU actors hold no CPU, so they share the analysis CPUs
        # (a job analyses, then renders) instead of keeping them from the clip tasks.
        resources = {"num_gpus": 1} if gpus else {"num_cpus": 0}
        self._actor = ray.remote(
            max_restarts=max_retries,
            max_task_retries=max_retries,
            scheduling_strategy="SPREAD",
            **resources,
        )(RenderActor)
        self._actors: list = []  # started with the first job that renders
        self.rendered: list[dict] = []  # who made each batch (pid, resident models), in order

    @staticmethod
    def _start(ray, address: str | None, num_cpus: int | None, store_mb: int | None) -> None:
        """Join ``address``, or start a Ray on this machine, bounded and on loopback only (a
        Ray head on the studio network would run anyone's tasks: ``ray start`` is for that)."""
        local = {} if address else {"_node_ip_address": "127.0.0.1"}
        if num_cpus is not None:
            local["num_cpus"] = num_cpus
        if store_mb is not None:
            local["object_store_memory"] = store_mb * 1024 * 1024
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **local)
        except ValueError as exc:  # Ray's word for a bound it cannot start with
            field = "ray-object-store-mb" if "object store" in str(exc) else "engine"
            raise ConfigError(f"cannot start Ray: {exc}", field=field) from None

    def describe(self) -> dict:
        """What the cluster has, as the server says at start: nodes, CPUs, GPUs, actors."""
        ray = self._ray
        resources = ray.cluster_resources()
        return {
            "engine": self.name,
            "address": self.address,
            "nodes": sum(1 for node in ray.nodes() if node.get("Alive")),
            "cpus": int(resources.get("CPU", 0)),
            "gpus": int(resources.get("GPU", 0)),
            "render_actors": self.render_actors,
            "render_on": "gpu" if self.render_gpus else "cpu",
        }

    def runner(self) -> Runner:
        if not self.render_actors:
            return functools.partial(run_pipeline, scan=self.scan)
        return functools.partial(run_pipeline, scan=self.scan, synthesize=self.synthesize)

    def scan(
        self,
        timeline: otio.schema.Timeline,
        resolver: MediaResolver,
        options: FoleyOptions,
        progress: Progress,
        backends: Provider = FRESH,
        listening: Listening | None = None,
    ) -> tuple[ShotList, dict[int, Detection]]:
        """As ``scan_picture``; media checked here first, then one task per clip. The clips'
        sound is not heard ahead here (``listening`` unused): the guide hears it after."""
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
            logger.info("%d clips analysed as Ray tasks", count)
        except BaseException as exc:
            for ref in refs:
                ray.cancel(ref, force=True)
            logger.info("job stopped: %d analysis tasks cancelled", len(refs))
            raised = self._raised(exc)
            if raised is not exc:
                raise raised from None
            raise
        return merge(base, parts)

    def _actors_up(self) -> list:
        """The render actors; those killed by a cancel are started again (models cold)."""
        while len(self._actors) < self.render_actors:
            self._actors.append(self._actor.remote(self.render_fault))
        return list(self._actors)

    def synthesize(
        self,
        generator: str,
        batches: list[Batch],
        backends: Provider = FRESH,
        progress: Progress = lambda *a: None,
    ) -> Iterator[tuple[Made, list[str]]]:
        """As ``synthesize_batches``: each batch to whichever actor frees up first (at most
        ``per_actor`` queued on one, so none waits on the front door between batches), results
        handed back in batch order; a slow or restarted actor holds up only its own batches."""
        return self._collect(generator, batches, self._actors_up(), torch_threads(generator),
                             progress)  # fmt: skip

    def _collect(self, generator: str, batches: list, actors: list, threads, progress: Progress):
        ray = self._ray
        check = getattr(progress, "check", None)
        owners: dict = {}  # in flight: ref -> (batch, actor)
        load = {id(a): 0 for a in actors}
        ready: dict[int, tuple] = {}  # made, not yet handed back
        ahead = 2 * self.per_actor * len(actors)  # batches sent past the one awaited: memory
        sent = done = 0

        def send() -> None:
            nonlocal sent
            for level in range(1, self.per_actor + 1):  # one each first, then a second each
                for actor in actors:
                    if sent < min(len(batches), done + ahead) and load[id(actor)] < level:
                        ref = actor.render.remote(generator, batches[sent], sent, threads)
                        owners[ref] = (sent, actor)
                        load[id(actor)] += 1
                        sent += 1

        placed: dict[int, int] = {}  # actor pid -> batches made, for the log
        try:
            while done < len(batches):
                send()
                if done in ready:
                    made, said, who = ready.pop(done)
                    done += 1
                    placed[who["pid"]] = placed.get(who["pid"], 0) + 1
                    self.rendered.append(who)
                    del self.rendered[: -self.KEEP_RENDERED]  # a server runs for weeks
                    yield made, said
                    continue
                finished, _ = ray.wait(list(owners), num_returns=1, timeout=self.poll_s)
                if not finished:
                    if check is not None:
                        check()
                    continue
                for ref in finished:
                    number, actor = owners.pop(ref)
                    load[id(actor)] -= 1
                    ready[number] = self._result(ref, actor)
        finally:
            if owners:
                self._stop(list(owners), [actor for _, actor in owners.values()])
            logger.info("%d of %d batches rendered, per actor pid: %s", done, len(batches), placed)

    def _raised(self, exc: BaseException) -> BaseException:
        """The typed error a task or actor raised, as a local run raises it; else ``exc``."""
        cause = getattr(exc, "cause", None)
        if isinstance(exc, self._ray.exceptions.RayTaskError) and isinstance(cause, Exception):
            return cause
        return exc

    def _result(self, ref, actor) -> tuple:
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            raise self._raised(exc) from None
        except ray.exceptions.RayActorError as exc:
            self._actors = [a for a in self._actors if a is not actor]  # next job: anew
            raise RenderError(f"a render actor was lost for good: {exc}") from None

    def _stop(self, refs: list, owners: list) -> None:
        """A job stopped mid-render: its queued batches are cancelled (they never run); a
        batch already running cannot be interrupted (Ray does not interrupt a sync actor's
        task), so after ``grace_s`` its actor is killed, to be started again by the next job."""
        ray = self._ray
        for ref in refs:
            ray.cancel(ref)
        _, running = ray.wait(refs, num_returns=len(refs), timeout=self.grace_s)
        busy = {id(owners[refs.index(ref)]): owners[refs.index(ref)] for ref in running}
        for actor in busy.values():
            ray.kill(actor, no_restart=True)
        self._actors = [a for a in self._actors if id(a) not in busy]
        logger.info(
            "job stopped: %d render batches cancelled, %d actors killed", len(refs), len(busy)
        )

    def close(self) -> None:
        for actor in getattr(self, "_actors", []):
            self._ray.kill(actor, no_restart=True)
        self._actors = []
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()


def make_engine(
    name: str,
    address: str | None = None,
    render_actors: int | None = None,
    num_cpus: int | None = None,
    object_store_mb: int | None = None,
) -> LocalEngine | RayEngine:
    if name == "local":
        ray_only = {"ray-address": address or None, "render-actors": render_actors,
                    "ray-cpus": num_cpus, "ray-object-store-mb": object_store_mb}  # fmt: skip
        for option, value in ray_only.items():
            if value is not None:
                raise ConfigError(f"--{option} needs --engine ray", field=option)
        return LocalEngine()
    if name == "ray":
        return RayEngine(
            address,
            render_actors=render_actors,
            num_cpus=num_cpus,
            object_store_mb=object_store_mb,
        )
    raise ConfigError(f"unknown engine {name!r}: one of {', '.join(ENGINES)}", field="engine")
