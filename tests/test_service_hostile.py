"""Requests meant to hurt the server: each one is refused or contained, and the server stays up.

Every test here is a finding of the adversarial run in issue 16, against a server on port 0.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import grpc
import numpy as np
import opentimelineio as otio
import pytest
from conftest import write_video, write_wav
from grpc_health.v1 import health_pb2, health_pb2_grpc
from service_support import (
    RPC_TIMEOUT,
    RT,
    TR,
    Gate,
    make_test_certificate,
    sfx_timeline,
    timeline_with_media,
    wait_serving,
)

from sonicvision.adapters.errors import TimelineReadError
from sonicvision.adapters.io import read_timeline
from sonicvision.adapters.untrusted import json_depth
from sonicvision.errors import ConfigError
from sonicvision.server.detect.child import DetectorProcess, DetectorProcessError
from sonicvision.server.generate.library import INDEX_NAME
from sonicvision.server.service.app import run_server
from sonicvision.server.service.backends import BackendTable
from sonicvision.server.service.client import SonicVisionClient
from sonicvision.server.service.errors import Cancelled, QueueFull, RemoteError
from sonicvision.server.service.jobs import JobManager
from sonicvision.server.service.servicer import ByteBudget
from sonicvision.server.service.spec import JobSpec, run_pipeline
from sonicvision.server.service.store import JobStore, State
from sonicvision.server.testing.detectors import StuckDetector
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


# -- H3, M1, M3, M4: nothing can wedge it ------------------------------------------------------


def test_h3_idle_http_connections_are_capped_and_closed_and_grpc_stays_up(tmp_path):
    with run_server(
        data_dir=tmp_path, http_port=0, http_idle_s=0.5, http_max_connections=3
    ) as port:
        address = f"127.0.0.1:{port}"
        wait_serving(address)
        idle = [
            socket.create_connection(("127.0.0.1", port.http_port), timeout=10) for _ in range(3)
        ]
        try:
            extra = socket.create_connection(("127.0.0.1", port.http_port), timeout=10)
            assert extra.recv(1) == b""  # closed at once: the cap is reached
            extra.close()
            assert serving(address)
            for sock in idle:  # each idle one is closed by the server, not held forever
                assert sock.recv(1) == b""
        finally:
            for sock in idle:
                sock.close()
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port.http_port}/v1/health", timeout=10
        ) as r:
            assert json.loads(r.read())["status"] == "SERVING"


def test_m1_watch_streams_are_bounded_and_health_still_answers(media, tmp_path):
    gate = Gate()
    with run_server(data_dir=tmp_path, media_roots=[media], max_workers=6, runner=gate) as port:
        address = f"127.0.0.1:{port}"
        wait_serving(address)
        with SonicVisionClient(address, timeout=RPC_TIMEOUT) as client:
            streams = []
            try:
                job_id = client.submit(content=sfx_timeline(), filename="c.otio").job_id
                assert gate.reached.wait(RPC_TIMEOUT)
                streams += [client.watch(job_id, timeout=RPC_TIMEOUT) for _ in range(3)]
                for stream in streams:
                    next(stream)  # open, and holding a server thread
                error = refusal(lambda: next(client.watch(job_id, timeout=RPC_TIMEOUT)))
                assert error.code == CODE.RESOURCE_EXHAUSTED and "streams" in error.details
                assert client.get(job_id).state == pb.JOB_STATE_RUNNING
                assert serving(address)
                streams.pop().close()
                wait_until(lambda: _watch_opens(client, job_id))
            finally:
                for stream in streams:  # every slot back before waiting on the job
                    stream.close()
                gate.open()
            # by polling: the server frees closed streams' slots when it notices, not at once
            wait_until(lambda: client.get(job_id).state == pb.JOB_STATE_SUCCEEDED)


def _watch_opens(client: SonicVisionClient, job_id: str) -> bool:
    stream = client.watch(job_id, timeout=RPC_TIMEOUT)
    try:
        next(stream)
        return True
    except RemoteError as exc:
        assert exc.code == CODE.RESOURCE_EXHAUSTED
        return False
    finally:
        stream.close()


def wait_until(condition, timeout: float = RPC_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def _frames(n: int):
    return [np.full((144, 256, 3), i % 255, dtype=np.uint8) for i in range(n)]


def test_m3_a_hung_detector_child_is_killed_and_named(tmp_path):
    child = DetectorProcess(StuckDetector(), depth=2, stall_s=1.0)
    try:
        stream = child.stream(24.0)
        with pytest.raises(DetectorProcessError, match="no progress"):
            for picture in _frames(200):
                child.frame(stream, picture)
            child.shot(stream, 0, 0, 200)
            child.results()
    finally:
        child.close(wait=False)
    assert child._process.poll() is not None


def test_m3_a_cancel_reaches_a_detector_child_that_hangs():
    stop = threading.Event()

    def interrupt() -> None:
        if stop.is_set():
            raise Cancelled("cancelled on request")

    child = DetectorProcess(StuckDetector(), depth=2, stall_s=3600, interrupt=interrupt)
    try:
        stream = child.stream(24.0)
        child.frame(stream, _frames(1)[0])
        child.shot(stream, 0, 0, 1)
        stop.set()
        with pytest.raises(Cancelled):
            child.results()
    finally:
        child.close(wait=False)


def test_m3_cancel_stops_a_job_inside_a_long_shot(media, tmp_path):
    clip = write_video(media / "long_take.mov", 240, 24.0)
    content = timeline_with_media(tmp_path / "long.otio", clip, frames=240)
    reached, opened = threading.Event(), threading.Event()
    calls: list[tuple] = []
    checks = [0]

    def runner(spec, timeline, result_dir, progress, **kw):
        def held(stage: str, done: int, total: int) -> None:
            calls.append((stage, done, total))
            progress(stage, done, total)

        def check() -> None:
            checks[0] += 1
            if checks[0] == 10:  # ten frames into the only shot
                reached.set()
                opened.wait(RPC_TIMEOUT)
            progress.check()

        held.check = check
        return run_pipeline(spec, timeline, result_dir, held, **kw)

    store = JobStore(tmp_path / "jobs.sqlite3")
    manager = JobManager(store, tmp_path, [media], runner=runner)
    manager.start()
    manager.set_ready()
    try:
        job, _ = manager.submit(JobSpec(timeline_name="long.otio"), content)
        assert reached.wait(RPC_TIMEOUT)
        manager.cancel(job.id)
        opened.set()
        wait_until(lambda: manager.get(job.id).state.final)
        assert manager.get(job.id).state == State.CANCELLED
        assert ("shots", 1, 1) not in calls and checks[0] < 240
    finally:
        opened.set()
        manager.stop()
        store.close()


def _manager_whose_finish_fails(tmp_path, media, failures: int):
    store = JobStore(tmp_path / "jobs.sqlite3")
    real = store.finish
    left = [failures]

    def finish(job_id, state, **kw):
        if left[0] > 0:
            left[0] -= 1
            raise sqlite3.OperationalError("database is locked")
        return real(job_id, state, **kw)

    store.finish = finish
    manager = JobManager(store, tmp_path, [media])
    manager.RETRY_S = 0.01
    manager.start()
    manager.set_ready()
    return manager, store


@pytest.mark.parametrize("failures", [2, 5])
def test_m4_final_bookkeeping_retries_and_else_ends_the_job_failed(media, tmp_path, failures):
    manager, store = _manager_whose_finish_fails(tmp_path, media, failures)
    try:
        job, _ = manager.submit(JobSpec(timeline_name="a.otio"), sfx_timeline())
        events = list(manager.watch(job.id))  # the stream ends: it has a final event
        assert events[-1].final
        done = manager.get(job.id)
        if failures < manager.WRITE_TRIES:
            assert done.state == State.SUCCEEDED and store.files(job.id)
        else:
            assert done.state == State.FAILED and "could not record" in done.error.message
            assert not (tmp_path / "jobs" / job.id / "result").exists()
    finally:
        manager.stop()
        store.close()


# -- M2, M5, M6, M9: bounded everything ------------------------------------------------------


def long_marker_timeline(seconds: float, picture_frames: int = 96) -> bytes:
    timeline = otio.schema.Timeline(name="long marker")
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Gap(duration=RT(picture_frames, 24)))
    timeline.tracks.append(track)
    timeline.tracks.markers.append(
        otio.schema.Marker(name="SFX: rain", marked_range=TR(RT(0, 24), RT(seconds * 24, 24)))
    )
    return otio.adapters.write_to_string(timeline, "otio_json").encode()


def test_m2_a_marker_longer_than_the_picture_costs_no_more_than_the_picture(server):
    client, _, _ = server
    reply = client.submit(content=long_marker_timeline(600), filename="rain.otio")
    job = client.wait(reply.job_id, RPC_TIMEOUT)
    assert job.state == pb.JOB_STATE_SUCCEEDED  # clipped to the picture's end, said in a note
    assert job.result.audio_seconds <= 4.0 + 1e-6
    too_long = pb.FoleyOptions(marker_rule=pb.MarkerRule(default_seconds=3600))
    error = refusal(
        lambda: client.submit(content=sfx_timeline(), filename="c.otio", options=too_long)
    )
    assert error.code == CODE.INVALID_ARGUMENT and "default_seconds" in error.details
    fits = client.submit(content=long_marker_timeline(4), filename="rain.otio")
    assert client.wait(fits.job_id, RPC_TIMEOUT).state == pb.JOB_STATE_SUCCEEDED


def test_m5_library_never_leaves_its_root_and_indexes_in_the_data_dir(server, media, tmp_path):
    client, data, _ = server
    library = media / "sfx"
    library.mkdir(exist_ok=True)
    write_wav(library / "door_knock.wav", 0.5)
    outside = tmp_path / "private"
    outside.mkdir()
    write_wav(outside / "door_slam.wav", 0.5)
    (library / "door_slam.wav").symlink_to(outside / "door_slam.wav")
    options = pb.FoleyOptions(generator=f"library:{library}")
    reply = client.submit(content=sfx_timeline("door slam"), filename="c.otio", options=options)
    job = client.wait(reply.job_id, RPC_TIMEOUT)
    assert job.state == pb.JOB_STATE_SUCCEEDED
    assert not (library / INDEX_NAME).exists()
    indexes = list((data / "library").glob("*.json"))
    assert len(indexes) == 1
    entries = json.loads(indexes[0].read_text())["entries"]
    assert set(entries) == {"door_knock.wav"}  # the link out of the root is not the library's


def test_m6_oversized_fields_are_refused_before_anything_is_stored(server):
    client, _, _ = server
    cases = {
        "options.path_maps": pb.FoleyOptions(path_maps=[f"/a{i}=/b{i}" for i in range(65)]),
        "options.media_roots": pb.FoleyOptions(media_roots=["/x" * 3000]),
        "options.generator": pb.FoleyOptions(generator="procedural" + "x" * 5000),
        "options.marker_rule.colors": pb.FoleyOptions(
            marker_rule=pb.MarkerRule(colors=["RED"] * 100)
        ),
        "options.seed": pb.FoleyOptions(seed=90_000_000_000_000),
    }
    before = len(client.list())
    for field, options in cases.items():
        error = refusal(
            lambda o=options: client.submit(content=sfx_timeline(), filename="c.otio", options=o)
        )
        assert error.code == CODE.INVALID_ARGUMENT and field in error.details, field
    assert len(client.list()) == before


def test_m6_retention_deletes_the_oldest_finished_jobs_first(media, tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    manager = JobManager(store, tmp_path, [media], max_results_bytes=10**12)
    manager.start()
    manager.set_ready()
    try:
        ids = []
        for text in ("one", "two", "three"):
            job, _ = manager.submit(JobSpec(timeline_name="c.otio"), sfx_timeline(text))
            list(manager.watch(job.id))
            ids.append(job.id)
        sizes = {job_id: size for job_id, _, size in store.finished_jobs()}
        manager.max_results_bytes = sizes[ids[1]] + sizes[ids[2]]
        assert manager.sweep() == [ids[0]]
        assert not (tmp_path / "jobs" / ids[0]).exists()
        assert [j.id for j in manager.list()] == [ids[2], ids[1]]
        manager.keep_days = 1e-9  # everything finished is older than that
        assert sorted(manager.sweep()) == sorted(ids[1:])
        assert manager.list() == []
    finally:
        manager.stop()
        store.close()


def test_m9_uploads_taken_in_at_once_share_one_memory_budget():
    budget = ByteBudget(100)
    with budget.reserve(60):
        with pytest.raises(QueueFull, match="other uploads"):
            with budget.reserve(60):
                pass
        with budget.reserve(40):
            pass
    with budget.reserve(100):
        pass


def test_m9_uploads_over_the_shared_budget_are_refused_on_both_faces(media, tmp_path):
    small, big = sfx_timeline(), sfx_timeline()[:-1] + b" " * 8000 + b"}"
    with run_server(
        data_dir=tmp_path, media_roots=[media], http_port=0, upload_budget=6000
    ) as port:
        wait_serving(f"127.0.0.1:{port}")
        url = f"http://127.0.0.1:{port.http_port}/v1/jobs"

        def post(content: bytes) -> int:
            body = json.dumps(
                {"upload": {"filename": "c.otio", "content": base64.b64encode(content).decode()}}
            ).encode()
            request = urllib.request.Request(
                url, data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as reply:
                    return reply.status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert post(small) == 201
        assert post(big) == 429
        with SonicVisionClient(f"127.0.0.1:{port}", timeout=RPC_TIMEOUT) as client:
            assert client.submit(content=small, filename="c.otio").created
            error = refusal(lambda: client.submit(content=big * 1, filename="b.otio"))
            assert error.code == CODE.RESOURCE_EXHAUSTED


# -- the lows: malformed values, what errors say, who failed to log in -------------------------


def test_malformed_values_are_invalid_argument_not_internal(server, media):
    client, _, port = server
    list_raw = client._channel.unary_unary("/sonicvision.v1.Jobs/ListJobs")
    for token in ("²", "9" * 40, "-1", "1e3", " 12"):
        with pytest.raises(grpc.RpcError) as info:
            list_raw(pb.ListJobsRequest(page_token=token).SerializeToString(), timeout=5)
        assert info.value.code() == CODE.INVALID_ARGUMENT, token
    for path in ("/" + "a" * 5000, str(media / ("b" * 300) / "c.otio")):
        assert refusal(lambda p=path: client.submit(server_path=p)).code in (
            CODE.INVALID_ARGUMENT,
            CODE.PERMISSION_DENIED,
            CODE.NOT_FOUND,
        )
        # and never INTERNAL: the two above are the only kinds a long path may get
    assert refusal(lambda: client.submit(server_path="/" + "a" * 5000)).code == (
        CODE.INVALID_ARGUMENT
    )
    base = f"http://127.0.0.1:{port.http_port}/v1/jobs"
    for query in ("?page_size=" + "9" * 30, "?page_size=-4"):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(base + query, timeout=10)
        assert info.value.code == 400, query


@pytest.mark.parametrize("name", ["cut\u202egnp.otio", "a\u2066b.otio", "zero\u200bwidth.otio"])
def test_upload_names_with_text_direction_or_invisible_characters_are_refused(server, name):
    client, _, _ = server
    error = refusal(lambda: client.submit(content=sfx_timeline(), filename=name))
    assert error.code == CODE.INVALID_ARGUMENT and "text-direction" in error.details


def test_errors_name_no_server_root_and_no_existence_outside_roots(server, media, tmp_path):
    client, _, _ = server
    (tmp_path / "real.otio").write_bytes(sfx_timeline())
    real = refusal(lambda: client.submit(server_path=str(tmp_path / "real.otio")))
    ghost = refusal(lambda: client.submit(server_path=str(tmp_path / "ghost.otio")))
    assert real.code == ghost.code == CODE.PERMISSION_DENIED
    assert real.details.replace("real", "ghost") == ghost.details
    assert str(media) not in real.details


def test_bad_port_and_bad_tls_files_are_named_as_such(tmp_path):
    with pytest.raises(ConfigError, match="not in 0..65535"):
        with run_server(port=-5, data_dir=tmp_path):
            pass
    with pytest.raises(ConfigError, match="not in 0..65535"):
        with run_server(http_port=70000, data_dir=tmp_path):
            pass
    cert, key = make_test_certificate(tmp_path)
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="TLS certificate or key is not usable"):
        with run_server(data_dir=tmp_path / "d", tls_cert=broken, tls_key=key):
            pass
    with pytest.raises(ConfigError, match="TLS certificate or key is not usable"):
        with run_server(data_dir=tmp_path / "d", tls_cert=cert, tls_key=cert):
            pass


def test_serve_without_a_media_root_warns_at_start(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="sonicvision"):
        with run_server(data_dir=tmp_path):
            pass
    assert any("--media-root" in r.getMessage() for r in caplog.records)


def test_failed_logins_are_logged_at_a_limited_rate(tmp_path, caplog):
    with run_server(data_dir=tmp_path, token="s3cret", http_port=0) as port:
        address = f"127.0.0.1:{port}"
        wait_serving(address)
        with caplog.at_level("INFO", logger="sonicvision"):
            with SonicVisionClient(address, token="wrong", timeout=5) as wrong:
                for _ in range(40):
                    assert refusal(wrong.backends).code == CODE.UNAUTHENTICATED
            for _ in range(40):
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port.http_port}/v1/jobs",
                    headers={"Authorization": "Bearer wrong"},
                )
                with pytest.raises(urllib.error.HTTPError) as info:
                    urllib.request.urlopen(request, timeout=5)
                assert info.value.code == 401
    refused = [
        r for r in caplog.records if "token" in r.getMessage() and "refused" in r.getMessage()
    ]
    assert 1 <= len(refused) <= 2  # one line per face a minute, not one per attempt


# -- models stay warm ---------------------------------------------------------------------------


def test_jobs_share_warm_backends_and_list_backends_shows_them(server):
    client, _, _ = server
    for text in ("knock", "thud"):
        job = client.wait(client.submit(content=sfx_timeline(text), filename="c.otio").job_id)
        assert job.state == pb.JOB_STATE_SUCCEEDED
    rows = {(b.kind, b.name): b for b in client.backends()}
    assert rows[(pb.BACKEND_KIND_GENERATOR, "procedural")].loaded


def test_the_cache_builds_a_spec_once_and_evicts_least_recently_used(monkeypatch):
    built = []

    class Weights:
        def __init__(self, spec):
            self.spec = spec
            built.append(spec)

    table = BackendTable(budget_bytes=250)
    monkeypatch.setattr(table, "_build", lambda kind, spec: Weights(spec))
    monkeypatch.setattr(
        "sonicvision.server.service.backends.footprint", lambda backend, depth=3: 100
    )
    a = table.get("generator", "ldm:/a")
    assert table.get("generator", "ldm:/a") is a and built == ["ldm:/a"]
    table.get("generator", "ldm:/b")
    table.get("generator", "ldm:/a")  # a is now the most recent
    table.get("generator", "ldm:/c")  # over 250 bytes: b goes, not a
    assert [r.spec for r in table.resident()] == ["ldm:/a", "ldm:/c"]
    rows = {(r.kind, r.name): r for r in table.rows()}
    assert rows[("generator", "ldm:/a")].loaded and ("generator", "ldm:/b") not in rows
    assert rows[("generator", "ldm")].loaded
