"""``sonicvision serve --engine ray`` through the front door: a real server process, its own
bounded Ray (2 CPUs, a small object store, on loopback), a multi-clip job submitted, watched,
cancelled and fetched with the gRPC client, and the server's Ray gone when it stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import opentimelineio as otio
import pytest
from service_support import RPC_TIMEOUT, add_sfx_markers, wait_serving

from sonicvision.server.options import FoleyOptions
from sonicvision.server.service.client import SonicVisionClient
from sonicvision.server.service.spec import JobSpec, run_pipeline
from sonicvision.server.service.wire import options_message
from sonicvision.server.testing.cuts import many_clips
from sonicvision.v1 import jobs_pb2 as pb

pytest.importorskip("ray")  # the cluster extra; CI installs it, so these run there
CLIPS = 5


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Five clips and 40 SFX prompt markers: per-clip analysis and two batches of sounds."""
    folder = tmp_path_factory.mktemp("ray_server_media")
    many_clips(folder, CLIPS, frames=40)
    add_sfx_markers(folder)
    return folder


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` (from /proc), with its command line."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found: dict[int, str] = {}
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        if (line := cmdline(child)) is not None:
            found[child] = line
        todo += children.get(child, [])
    return found


def cmdline(pid: int) -> str | None:
    """A live process's command line; None when it is gone or a zombie."""
    try:
        if (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) == "Z":
            return None
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, IndexError):
        return None


class Server:
    def __init__(self, data: Path, media: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own Ray
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        self.stderr = data.parent / "server.err"
        argv = [sys.executable, "-m", "sonicvision.cli", "serve", "--port", "0", "--json",
                "--data-dir", str(data), "--media-root", str(media), "--engine", "ray",
                "--ray-cpus", "2", "--ray-object-store-mb", "80",
                "--render-actors", "1"]  # fmt: skip
        with open(self.stderr, "w") as err:
            self.process = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=err, text=True, env=env,
                start_new_session=True,
            )  # fmt: skip
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self.process.stdout.readline()))
        reader.daemon = True
        reader.start()
        reader.join(90)
        if not found or not found[0].strip():
            self.kill()
            raise AssertionError(f"no port printed: {self.stderr.read_text()[-2000:]}")
        self.report = json.loads(found[0])
        self.address = f"127.0.0.1:{self.report['port']}"
        wait_serving(self.address, timeout=60)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)


@pytest.fixture(scope="module")
def server(media, tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("ray_server") / "data", media)
    yield running
    running.kill()


def options() -> pb.FoleyOptions:
    return options_message(FoleyOptions(seed=7))


def watch(client: SonicVisionClient, job_id: str, on_event=None) -> list[pb.JobEvent]:
    events = []
    for event in client.watch(job_id, timeout=120):
        events.append(event)
        if on_event is not None:
            on_event(event)
    return events


def stages(events: list[pb.JobEvent], stage: str) -> list[tuple[int, int]]:
    return [(e.done, e.total) for e in events if e.stage == stage]


def unplaced(path: Path) -> str:
    """A timeline's text with each media link cut to its file name: where the two results and
    their pictures lie differs (links relative to each timeline), nothing else may."""
    timeline = otio.adapters.read_from_file(str(path))
    for clip in timeline.find_clips():
        ref = clip.media_reference
        if isinstance(ref, otio.schema.ExternalReference):
            ref.target_url = ref.target_url.rsplit("/", 1)[-1]
    return otio.adapters.write_to_string(timeline, "otio_json")


def test_the_server_says_what_its_bounded_ray_has(server):
    engine = server.report["engine"]
    assert engine["engine"] == "ray" and engine["address"] == "local"
    assert engine["nodes"] == 1 and engine["cpus"] == 2 and engine["gpus"] == 0
    assert engine["render_actors"] == 1 and engine["render_on"] == "cpu"


def test_a_job_through_the_front_door_gives_the_local_result_byte_for_byte(server, media, tmp_path):
    with SonicVisionClient(server.address, timeout=RPC_TIMEOUT) as client:
        job = client.submit(
            server_path=str(media / "marked.otio"), options=options()
        ).job  # fmt: skip
        events = watch(client, job.job_id)
        assert events[-1].final and events[-1].state == pb.JOB_STATE_SUCCEEDED, events[-1]
        fetched = client.fetch(job.job_id, tmp_path / "remote")
    shots = stages(events, "shots")
    assert shots[0] == (0, CLIPS) and shots[-1] == (CLIPS, CLIPS)  # per clip, from the tasks
    render = stages(events, "render")
    local_dir = tmp_path / "local"
    local_dir.mkdir()
    spec = JobSpec(timeline_name="marked.otio",
                   options=FoleyOptions(media_roots=[media], seed=7))  # fmt: skip
    local = run_pipeline(spec, media / "marked.otio", local_dir, lambda *a: None)
    total = len(local.clips)
    assert total > 32  # two batches of sounds
    assert render[0] == (0, total) and render[-1] == (total, total) and (32, total) in render
    names = sorted(p.name for p in fetched.audio)
    assert names == sorted(c.path.name for c in local.clips)
    by_name = {c.path.name: c.path for c in local.clips}
    for path in fetched.audio:
        assert path.read_bytes() == by_name[path.name].read_bytes(), path.name
    # the timeline: the local run's text, its audio links aside
    assert unplaced(fetched.timeline) == unplaced(local.output)


def test_cancel_through_the_client_mid_job_ends_cancelled(server, media):
    with SonicVisionClient(server.address, timeout=RPC_TIMEOUT) as client:
        job = client.submit(server_path=str(media / "marked.otio"), options=options()).job
        cancelled: list[pb.Job] = []

        def cancel_at_first_shot(event: pb.JobEvent) -> None:
            if event.stage == "shots" and not cancelled:
                cancelled.append(client.cancel(job.job_id))

        events = watch(client, job.job_id, cancel_at_first_shot)
        assert cancelled and events[-1].final
        assert events[-1].state == pb.JOB_STATE_CANCELLED
        assert not stages(events, "render")  # stopped in the analysis, before any sound
        assert client.get(job.job_id).state == pb.JOB_STATE_CANCELLED


def test_the_server_stops_cleanly_and_its_ray_with_it(server):
    ray_processes = {p: c for p, c in descendants(server.process.pid).items() if "ray" in c}
    assert any("raylet" in c for c in ray_processes.values()), ray_processes
    assert any("gcs_server" in c for c in ray_processes.values()), ray_processes
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(60) == 0
    assert "sonicvision serve: stopped" in server.stderr.read_text()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = {p: c for p, c in ray_processes.items() if cmdline(p) == c}
        if not left:
            break
        time.sleep(0.2)
    assert not left, left
