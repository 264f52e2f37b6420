"""The ray engine: the same job on a Ray head (2 CPUs, on 127.0.0.1) gives the local result,
byte for byte; a cancel ends it CANCELLED; a worker lost mid-job has its task retried."""

from __future__ import annotations

import os
import time
from pathlib import Path

import opentimelineio as otio
import pytest

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


def spec_for(media: Path) -> JobSpec:
    return JobSpec(timeline_name="many.otio", options=FoleyOptions(media_roots=[media], seed=7))


def run_with(runner, media: Path, out: Path):
    out.mkdir()
    return runner(spec_for(media), media / "many.otio", out, lambda *a: None)


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


def test_local_engine_is_todays_runner_and_bad_engines_are_refused():
    assert make_engine("local").runner() is run_pipeline
    with pytest.raises(Exception, match="unknown engine 'spark'"):
        make_engine("spark")
    with pytest.raises(Exception, match="--ray-address needs --engine ray"):
        make_engine("local", "auto")
