"""Requests meant to hurt the server: each one is refused or contained, and the server stays up.

Every test here is a finding of the adversarial run in issue 16, against a server on port 0.
"""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import grpc
import opentimelineio as otio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from service_support import RPC_TIMEOUT, sfx_timeline, wait_serving

from sonicvision.adapters.errors import TimelineReadError
from sonicvision.adapters.io import read_timeline
from sonicvision.adapters.untrusted import json_depth
from sonicvision.server.service.app import run_server
from sonicvision.server.service.client import SonicVisionClient
from sonicvision.server.service.errors import RemoteError
from sonicvision.v1 import jobs_pb2 as pb

CODE = grpc.StatusCode


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("media")
    (root / "cut.otio").write_bytes(sfx_timeline())
    return root


@pytest.fixture(scope="module")
def server(media, tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    with run_server(data_dir=data, media_roots=[media], http_port=0) as port:
        address = f"127.0.0.1:{port}"
        wait_serving(address)
        with SonicVisionClient(address, timeout=RPC_TIMEOUT) as client:
            yield client, data, port


def refusal(call) -> RemoteError:
    with pytest.raises(RemoteError) as info:
        call()
    return info.value


def serving(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def padded_otioz(padding: int) -> bytes:
    """A valid .otioz whose content.otio is a real timeline padded with whitespace."""
    text = sfx_timeline()[:-1] + b" " * padding + b"}"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("content.otio", text)
        archive.writestr("version.txt", "1.0.0")
    return out.getvalue()


# -- H1, H2: untrusted bytes ------------------------------------------------------------------


def test_h1_deeply_nested_json_is_refused_at_submit_and_the_server_stays_up(server):
    client, _, _ = server
    error = refusal(lambda: client.submit(content=nested(60_000), filename="deep.otio"))
    assert error.code == CODE.INVALID_ARGUMENT and "nests deeper" in error.details
    assert "deep.otio" in error.details and "staging" not in error.details
    error = refusal(lambda: client.submit(content=nested(15_000), filename="deep.otio"))
    assert error.code == CODE.INVALID_ARGUMENT
    assert serving(client.address)


def test_h1_the_cli_refuses_the_same_file_with_a_clear_error(tmp_path):
    bomb = tmp_path / "deep.otio"
    bomb.write_bytes(nested(60_000))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sonicvision.cli",
            "foley",
            str(bomb),
            "-o",
            str(tmp_path / "o.otio"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "nests deeper than" in done.stderr and "Traceback" not in done.stderr
    with pytest.raises(TimelineReadError, match="nests deeper"):
        read_timeline(bomb)


def test_h1_otio_never_parses_in_an_rpc_thread(server, monkeypatch):
    client, _, _ = server
    threads: list[str] = []
    real = otio.adapters.read_from_file

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(otio.adapters, "read_from_file", spy)
    job = client.wait(client.submit(content=sfx_timeline(), filename="c.otio").job_id, RPC_TIMEOUT)
    assert job.state == pb.JOB_STATE_SUCCEEDED
    assert threads and not [t for t in threads if t.startswith("sv-rpc")]


def test_h1_a_file_otio_refuses_fails_the_job_without_naming_server_folders(server):
    client, data, _ = server
    reply = client.submit(content=b'{"OTIO_SCHEMA": "Nonsense.7", "x": [1]}', filename="odd.otio")
    job = client.wait(reply.job_id, RPC_TIMEOUT)
    assert job.state == pb.JOB_STATE_FAILED and job.error.code == "INVALID_ARGUMENT"
    assert "odd.otio" in job.error.path + job.error.message
    assert str(data) not in job.error.message + job.error.path
    assert "/jobs/" not in job.error.message + job.error.path


def test_h2_an_otioz_that_inflates_far_beyond_its_size_is_refused(server):
    client, _, _ = server
    bomb = padded_otioz(40 * 1024 * 1024)
    assert len(bomb) < 200 * 1024
    error = refusal(lambda: client.submit(content=bomb, filename="bomb.otioz"))
    assert error.code == CODE.INVALID_ARGUMENT and "inflates" in error.details
    fine = client.submit(content=padded_otioz(10), filename="fine.otioz")
    assert client.wait(fine.job_id, RPC_TIMEOUT).state == pb.JOB_STATE_SUCCEEDED


def test_depth_scan_skips_brackets_in_strings_and_escapes_across_chunks():
    text = b'{"a": "x\\\\\\" [[[", "b": [[1]], "c": "\\\\"}'
    assert json_depth([text]) == 3
    for cut in range(1, len(text)):
        assert json_depth([text[:cut], text[cut:]]) == 3, cut
    with pytest.raises(TimelineReadError, match="truncated"):
        json_depth([text[:-1]])
    with pytest.raises(TimelineReadError, match="closes more"):
        json_depth([b"[]]"])
