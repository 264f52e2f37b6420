"""The ray engine: the same job on a Ray head (2 CPUs, on 127.0.0.1) gives the local result,
byte for byte, its sounds made on render actors that keep their models warm; a cancel ends it
CANCELLED and stops its tasks; a worker or actor lost mid-job has its work retried."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf
from service_support import add_sfx_markers

from sonicvision.errors import ConfigError
from sonicvision.server.options import FoleyOptions
from sonicvision.server.service.engine import RayEngine, make_engine
from sonicvision.server.service.jobs import JobManager
from sonicvision.server.service.spec import JobSpec, run_pipeline
from sonicvision.server.service.store import JobStore, State
from sonicvision.server.testing.cuts import many_clips

ray = pytest.importorskip("ray")  # the cluster extra; CI installs it, so these run there


@pytest.fixture(scope="module")
def head():
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        object_store_memory=80 * 1024 * 1024,
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ray_media")
    many_clips(folder, 5, frames=40)
    return folder


@pytest.fixture(scope="module")
def marked(media) -> Path:
    """The five clips and 40 short SFX prompt markers: 40 events more, two batches of sounds."""
    return add_sfx_markers(media)


def spec_for(media: Path, name: str = "many.otio", **options) -> JobSpec:
    return JobSpec(
        job_pass=options.pop("job_pass", "foley"),
        timeline_name=name,
        options=FoleyOptions(media_roots=[media], seed=7, **options),
    )


def run_with(runner, media: Path, out: Path, name: str = "many.otio", progress=None, **options):
    out.mkdir()
    report = progress.append if progress is not None else lambda *a: None
    return runner(spec_for(media, name, **options), media / name, out, lambda *a: report(a))


def same_bytes(local, remote) -> None:
    assert [c.path.name for c in remote.clips] == [c.path.name for c in local.clips]
    for a, b in zip(local.clips, remote.clips, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes(), a.path.name
    assert events_of(remote.output) == events_of(local.output)
    assert remote.analysis.notes == local.analysis.notes


def events_of(path: Path) -> list:
    timeline = otio.adapters.read_from_file(str(path))
    clips = [
        (c.name, str(c.range_in_parent()), c.media_reference.target_url.rsplit("/", 1)[-1])
        for track in timeline.audio_tracks()
        for c in track.find_clips()
    ]
    markers = [(m.name, str(m.marked_range)) for m in timeline.tracks.find_children()
               for m in getattr(m, "markers", [])]  # fmt: skip
    return clips + markers


def test_ray_job_gives_the_local_result_byte_for_byte(head, media, tmp_path):
    local = run_with(run_pipeline, media, tmp_path / "local")
    progress: list[tuple[str, int, int]] = []
    engine = RayEngine()
    out = tmp_path / "ray"
    out.mkdir()
    remote = engine.runner()(
        spec_for(media), media / "many.otio", out, lambda *a: progress.append(a)
    )
    assert len(local.analysis.shots) >= 5 and local.clips
    assert [s.index for s in remote.analysis.shots] == list(range(len(local.analysis.shots)))
    assert [str(s.record_range) for s in remote.analysis.shots] == [
        str(s.record_range) for s in local.analysis.shots
    ]
    assert [(e.text, str(e.start), str(e.end), e.cue_id) for e in remote.analysis.events] == [
        (e.text, str(e.start), str(e.end), e.cue_id) for e in local.analysis.events
    ]
    assert remote.analysis.notes == local.analysis.notes
    assert events_of(remote.output) == events_of(local.output)
    assert [c.path.name for c in remote.clips] == [c.path.name for c in local.clips]
    for a, b in zip(local.clips, remote.clips, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes(), a.path.name
    shots = [p for p in progress if p[0] == "shots"]
    assert shots[0] == ("shots", 0, 5) and shots[-1] == ("shots", 5, 5) and len(shots) == 6
    assert engine.rendered  # the sounds were made on a render actor, not here
    assert {who["pid"] for who in engine.rendered} != {os.getpid()}
    engine.close()


def test_render_actors_make_the_sounds_byte_for_byte_and_keep_models_warm(
    head, media, marked, tmp_path
):
    local_progress: list = []
    local = run_with(run_pipeline, media, tmp_path / "local", marked.name, local_progress)
    engine = RayEngine(render_actors=2)
    progress: list = []
    try:
        remote = run_with(engine.runner(), media, tmp_path / "ray", marked.name, progress)
        assert len(local.clips) > 40  # detected events and the 40 prompts: two batches
        same_bytes(local, remote)
        render = [p for p in progress if p[0] == "render"]
        assert render == [p for p in local_progress if p[0] == "render"]
        assert render == [("render", 0, len(local.clips)), ("render", 32, len(local.clips)),
                          ("render", len(local.clips), len(local.clips))]  # fmt: skip
        pids = [who["pid"] for who in engine.rendered]
        assert len(pids) == 2 and len(set(pids)) == 2 and os.getpid() not in pids
        # a second job on the same actors: the generator is not built again, only used again
        again = run_with(engine.runner(), media, tmp_path / "again", marked.name,
                         job_pass="render")  # fmt: skip
        assert len(again.clips) == 40
        assert [who["pid"] for who in engine.rendered[2:]] == pids
        for who in engine.rendered[2:]:
            assert who["resident"] == {"generator:procedural": 2}  # loaded once, used twice
    finally:
        engine.close()


@pytest.fixture
def library(tmp_path) -> Path:
    """A one-file SFX library: prompts other than a door slam fall back to procedural."""
    root = tmp_path / "lib"
    root.mkdir()
    rng = np.random.default_rng(3)
    burst = (rng.standard_normal(4800) * np.exp(-np.arange(4800) / 600)).astype("float32")
    sf.write(root / "DOORWood_Slam Heavy_SV_01.wav", 0.3 * burst, 48_000)
    return root


def test_fallback_notes_from_actors_come_back_in_local_order(head, media, marked, library,
                                                             tmp_path):  # fmt: skip
    options = dict(job_pass="render", generator=f"library:{library}")
    local = run_with(run_pipeline, media, tmp_path / "local", marked.name, **options)
    engine = RayEngine(render_actors=2)
    try:
        remote = run_with(engine.runner(), media, tmp_path / "ray", marked.name, **options)
        fallbacks = [n for n in local.analysis.notes if "rendered by procedural synthesis" in n]
        assert len(fallbacks) == 32  # the other four words, in both batches
        same_bytes(local, remote)
        assert len({who["pid"] for who in engine.rendered}) == 2
    finally:
        engine.close()


def test_a_generator_error_on_an_actor_is_the_local_typed_error(head, media, marked, tmp_path):
    options = dict(job_pass="render", generator=f"library:{tmp_path / 'no-such-folder'}")
    with pytest.raises(Exception) as here:
        run_with(run_pipeline, media, tmp_path / "local", marked.name, **options)
    engine = RayEngine(render_actors=1)
    try:
        with pytest.raises(type(here.value)) as there:
            run_with(engine.runner(), media, tmp_path / "ray", marked.name, **options)
        assert str(there.value) == str(here.value) and "no-such-folder" in str(here.value)
        assert not list((tmp_path / "ray").rglob("*.wav"))
    finally:
        engine.close()


def test_a_tiny_ldm_loads_once_per_actor_and_renders_the_local_bytes(head, media, marked, tmp_path):
    pytest.importorskip("diffusers")  # the gpu extra, as tests/test_ldm.py needs it
    from sonicvision.server.testing.ldm import save_audioldm

    options = dict(job_pass="render", generator=f"ldm:{save_audioldm(tmp_path / 'm')},steps=2,"
                   "device=cpu")  # fmt: skip
    local = run_with(run_pipeline, media, tmp_path / "local", marked.name, **options)
    engine = RayEngine(render_actors=2)
    try:
        remote = run_with(engine.runner(), media, tmp_path / "ray", marked.name, **options)
        again = run_with(engine.runner(), media, tmp_path / "again", marked.name, **options)
        assert {c.generator for c in local.clips} == {"ldm"}
        same_bytes(local, remote)  # batch 1 made by an actor that never saw batch 0
        same_bytes(local, again)
        pids = [who["pid"] for who in engine.rendered]
        assert len(set(pids)) == 2 and pids[2:] == pids[:2]
        spec = f"generator:{options['generator']}"
        assert [who["resident"] for who in engine.rendered[2:]] == [{spec: 2}, {spec: 2}]
    finally:
        engine.close()


def _actor_dies_once(marker: str):
    def fault(number: int) -> None:
        if number == 1 and not os.path.exists(marker):
            Path(marker).write_text(str(os.getpid()))
            os._exit(1)  # the render actor's process is lost mid-job

    return fault


def test_a_render_actor_lost_mid_job_is_restarted_and_the_job_succeeds(
    head, media, marked, tmp_path
):
    local = run_with(run_pipeline, media, tmp_path / "local", marked.name, job_pass="render")
    marker = tmp_path / "died"
    engine = RayEngine(render_actors=1, render_fault=_actor_dies_once(str(marker)))
    try:
        remote = run_with(engine.runner(), media, tmp_path / "ray", marked.name,
                          job_pass="render")  # fmt: skip
        assert marker.exists()  # the actor did die, rendering batch 1
        first, second = (who["pid"] for who in engine.rendered)
        assert first == int(marker.read_text()) != second  # batch 1: by the restarted actor
        same_bytes(local, remote)
    finally:
        engine.close()


def _first_waits_for_last(marker: str, last: int):
    def fault(number: int) -> None:
        if number == last:
            Path(marker).write_text("last made")
        deadline = time.monotonic() + 20
        while number == 0 and not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.02)  # batch 0's actor is slow: held until the last batch is made

    return fault


def test_batches_go_to_the_actor_that_frees_up_and_come_back_in_order(head, media, tmp_path):
    dense = add_sfx_markers(media, 190, "dense.otio", step=1)  # six batches
    local = run_with(run_pipeline, media, tmp_path / "local", dense.name, job_pass="render")
    assert len(local.clips) == 190
    marker = tmp_path / "last"
    engine = RayEngine(render_actors=2, render_fault=_first_waits_for_last(str(marker), 5))
    try:
        remote = run_with(engine.runner(), media, tmp_path / "ray", dense.name,
                          job_pass="render")  # fmt: skip
        assert marker.exists()
        same_bytes(local, remote)  # in batch order, whoever made them
        pids = [who["pid"] for who in engine.rendered]
        slow = pids[0]
        # batch k to actor k mod 2 would have left 4 behind 0 (and 5 waiting for it): the
        # slow actor made only what it had queued before it stalled, two batches
        assert [k for k, pid in enumerate(pids) if pid == slow] == [0, 2]
        assert len(set(pids)) == 2
    finally:
        engine.close()


def _dies_once(marker: str):
    def fault(number: int) -> None:
        if number == 2 and not os.path.exists(marker):
            Path(marker).write_text("died")
            os._exit(1)  # the worker process is lost mid-job

    return fault


def test_a_worker_lost_mid_job_is_retried_and_the_job_succeeds(head, media, tmp_path):
    local = run_with(run_pipeline, media, tmp_path / "local")
    marker = tmp_path / "died"
    engine = RayEngine(fault=_dies_once(str(marker)), max_retries=2)
    out = tmp_path / "ray"
    out.mkdir()
    remote = engine.runner()(spec_for(media), media / "many.otio", out, lambda *a: None)
    assert marker.exists()  # a worker did die
    assert [c.path.read_bytes() for c in remote.clips] == [c.path.read_bytes() for c in local.clips]


def _slow():
    def fault(number: int) -> None:
        time.sleep(30)  # far longer than the test waits: only a cancel ends it

    return fault  # a closure: Ray sends it by value (workers cannot import this module)


def test_cancel_mid_job_stops_the_tasks_and_ends_cancelled(head, media, tmp_path):
    engine = RayEngine(fault=_slow())
    store = JobStore(tmp_path / "jobs.sqlite3")
    jobs = JobManager(store, tmp_path / "data", [media], runner=engine.runner())
    jobs.start()
    jobs.set_ready()
    try:
        spec = JobSpec(server_path=str(media / "many.otio"), options=FoleyOptions(seed=7))
        job, _ = jobs.submit(spec)
        deadline = time.monotonic() + 20
        while jobs.get(job.id).state != State.RUNNING and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the tasks are out on the workers
        jobs.cancel(job.id)
        while not jobs.get(job.id).state.final and time.monotonic() < deadline:
            time.sleep(0.05)
        assert jobs.get(job.id).state == State.CANCELLED
        # the cancelled tasks left the workers (they would sleep 30 s): both CPUs are free
        assert ray.get(ray.remote(num_cpus=2)(lambda: "free").remote(), timeout=20) == "free"
    finally:
        jobs.stop()
        store.close()


def _hangs(marker: str):
    def fault(number: int) -> None:
        Path(marker).write_text(str(os.getpid()))
        time.sleep(30)  # far longer than the test waits: only a kill ends it

    return fault


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_cancel_mid_render_stops_the_actors_and_ends_cancelled(head, media, marked, tmp_path):
    marker = tmp_path / "rendering"
    engine = RayEngine(render_actors=1, render_fault=_hangs(str(marker)), grace_s=0.2)
    store = JobStore(tmp_path / "jobs.sqlite3")
    jobs = JobManager(store, tmp_path / "data", [media], runner=engine.runner())
    jobs.start()
    jobs.set_ready()
    try:
        spec = JobSpec(job_pass="render", server_path=str(marked), options=FoleyOptions(seed=7))
        job, _ = jobs.submit(spec)
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = int(marker.read_text())  # an actor is rendering batch 0 (and would for 30 s)
        jobs.cancel(job.id)
        while not jobs.get(job.id).state.final and time.monotonic() < deadline:
            time.sleep(0.05)
        assert jobs.get(job.id).state == State.CANCELLED
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(pid)  # the running batch's actor was stopped, the queued one cancelled
        assert engine.rendered == []
    finally:
        jobs.stop()
        store.close()
        engine.close()


def test_local_engine_is_todays_runner_and_bad_engines_are_refused():
    assert make_engine("local").runner() is run_pipeline
    with pytest.raises(Exception, match="unknown engine 'spark'"):
        make_engine("spark")
    with pytest.raises(Exception, match="--ray-address needs --engine ray"):
        make_engine("local", "auto")
    with pytest.raises(Exception, match="--render-actors needs --engine ray"):
        make_engine("local", render_actors=2)
    with pytest.raises(ConfigError, match="--ray-cpus needs --engine ray"):
        make_engine("local", num_cpus=2)
    with pytest.raises(ConfigError, match="--ray-object-store-mb needs --engine ray"):
        make_engine("local", object_store_mb=100)


def test_bounds_are_for_a_ray_started_here_not_for_a_cluster_joined():
    with pytest.raises(ConfigError, match=r"--ray-cpus 0: 1 or more"):
        RayEngine(num_cpus=0)
    with pytest.raises(ConfigError, match=r"a cluster it joins \(head-box:6379\)") as joined:
        RayEngine("head-box:6379", object_store_mb=100)  # refused before connecting anywhere
    assert joined.value.field == "ray-cpus"
