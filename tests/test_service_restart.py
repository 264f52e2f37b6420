"""A server killed with SIGKILL mid-job and restarted on the same data folder loses nothing."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from service_support import RPC_TIMEOUT, sfx_timeline, wait_serving

from sonicvision.server.demo import make_demo_cut
from sonicvision.server.service.client import SonicVisionClient
from sonicvision.v1 import jobs_pb2 as pb

START_TIMEOUT = 30.0


def start_server(data: Path, media: Path) -> tuple[subprocess.Popen, str]:
    """``serve --port 0`` in a child process; returns it and the address it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sonicvision.cli", "serve", "--port", "0",
         "--data-dir", str(data), "--media-root", str(media)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if selector.select(timeout=deadline - time.monotonic()):
                line = proc.stdout.readline()
                if "listening on" in line:
                    address = line.rsplit(" ", 1)[-1].strip()
                    wait_serving(address)
                    return proc, address
                if not line:
                    break
        raise RuntimeError(f"server did not start (exit {proc.poll()})")
    except BaseException:
        proc.kill()
        proc.wait(10)
        raise
    finally:
        selector.close()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_kill_9_mid_job_then_restart(tmp_path):
    media = tmp_path / "media"
    make_demo_cut(media)
    data = tmp_path / "data"
    proc, address = start_server(data, media)
    try:
        with SonicVisionClient(address, timeout=RPC_TIMEOUT) as client:
            done_id = client.submit(content=sfx_timeline("door slam"), filename="a.otio").job_id
            done = client.wait(done_id, timeout=RPC_TIMEOUT)
            assert done.state == pb.JOB_STATE_SUCCEEDED
            before = client.fetch(done_id, tmp_path / "before", timeout=RPC_TIMEOUT)

            running_id = client.submit(media / "demo_cut.otio").job_id  # about 2 s of work
            waiting_id = client.submit(content=sfx_timeline("thunder"), filename="b.otio").job_id
            stream = client.watch(running_id, timeout=RPC_TIMEOUT)
            for event in stream:
                if event.stage == "shots":
                    break
            stream.close()
            assert client.get(waiting_id).state == pb.JOB_STATE_QUEUED
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
    finally:
        stop(proc)

    proc, address = start_server(data, media)
    try:
        with SonicVisionClient(address, timeout=RPC_TIMEOUT) as client:
            crashed = client.get(running_id)
            assert crashed.state == pb.JOB_STATE_FAILED
            assert "server restarted while running" in crashed.error.message
            assert not (data / "jobs" / running_id / "result").exists()
            events = list(client.watch(running_id, timeout=RPC_TIMEOUT))
            assert events[-1].final and events[-1].state == pb.JOB_STATE_FAILED

            assert client.get(done_id).state == pb.JOB_STATE_SUCCEEDED
            after = client.fetch(done_id, tmp_path / "after", timeout=RPC_TIMEOUT)
            assert [p.read_bytes() for p in after.audio] == [p.read_bytes() for p in before.audio]

            resumed = client.wait(waiting_id, timeout=RPC_TIMEOUT)  # queued jobs run again
            assert resumed.state == pb.JOB_STATE_SUCCEEDED
    finally:
        stop(proc)
    assert proc.returncode == 0  # SIGTERM stops it cleanly
