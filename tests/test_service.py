"""The gRPC service end to end: a real server on a free port, real jobs, real failures."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import opentimelineio as otio
import pytest
import soundfile as sf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from service_support import (
    RPC_TIMEOUT,
    RT,
    Gate,
    make_test_certificate,
    sfx_timeline,
    timeline_with_media,
    wait_serving,
)

from sonicvision import cli
from sonicvision.adapters.errors import TimelineWriteError
from sonicvision.adapters.io import read_timeline
from sonicvision.adapters.tracks import CUE_PREFIX
from sonicvision.cli import service as service_cli
from sonicvision.errors import ConfigError
from sonicvision.server.demo import make_demo_cut
from sonicvision.server.service.app import run_server
from sonicvision.server.service.client import SonicVisionClient
from sonicvision.server.service.errors import RemoteError
from sonicvision.server.service.jobs import JobManager
from sonicvision.server.service.spec import JobSpec
from sonicvision.server.service.store import JobStore, State
from sonicvision.v1 import jobs_pb2 as pb

CODE = grpc.StatusCode


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """A media root holding the demo cut's footage and timeline."""
    root = tmp_path_factory.mktemp("media")
    make_demo_cut(root)
    return root


@pytest.fixture(scope="module")
def server(media, tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    with run_server(data_dir=data, media_roots=[media]) as port:
        address = f"127.0.0.1:{port}"
        wait_serving(address)
        with SonicVisionClient(address, timeout=RPC_TIMEOUT) as client:
            yield client, data


@pytest.fixture(scope="module")
def gated(media, tmp_path_factory):
    """A server whose jobs hold at their first progress call; its queue holds two."""
    gate = Gate()
    data = tmp_path_factory.mktemp("gated")
    with run_server(data_dir=data, media_roots=[media], max_queue=2, runner=gate) as port:
        address = f"127.0.0.1:{port}"
        wait_serving(address)
        with SonicVisionClient(address, timeout=RPC_TIMEOUT) as client:
            try:
                yield client, gate, data
            finally:
                gate.open()


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(RemoteError) as info:
        call()
    return info.value.code


def submit_sfx(client: SonicVisionClient, text: str = "door slam", **kw) -> pb.SubmitJobResponse:
    return client.submit(content=sfx_timeline(text), filename="cut.otio", **kw)


# -- a whole job ---------------------------------------------------------------------------


def test_full_job_streams_events_in_order_and_fetches_a_playable_timeline(server, media, tmp_path):
    client, data = server
    reply = client.submit(media / "demo_cut.otio", idempotency_key="full-job")
    assert reply.created and reply.job.state == pb.JOB_STATE_QUEUED
    events = list(client.watch(reply.job_id, timeout=RPC_TIMEOUT))

    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].state == pb.JOB_STATE_QUEUED
    assert events[-1].final and events[-1].state == pb.JOB_STATE_SUCCEEDED
    assert not any(e.final for e in events[:-1])
    states = [e.state for e in events]
    assert states == sorted(states)  # queued -> running -> succeeded, never back
    stages = [e.stage for e in events if e.stage]
    assert stages.index("shots") < stages.index("render") < stages.index("done")
    renders = [e for e in events if e.stage == "render"]
    assert [e.clips_rendered for e in renders] == sorted(e.clips_rendered for e in renders)
    assert renders[-1].clips_rendered == renders[-1].events_found == renders[-1].total > 0

    job = client.get(reply.job_id)
    assert job.state == pb.JOB_STATE_SUCCEEDED and job.result.clips == job.clips_rendered
    assert job.result.shots >= 3 and job.result.onscreen > 0 and job.result.offscreen == 1

    fetched = client.fetch(reply.job_id, tmp_path / "out", timeout=RPC_TIMEOUT)
    assert len(fetched.audio) == job.result.clips
    timeline = otio.adapters.read_from_file(str(fetched.timeline))
    audio_urls = [
        c.media_reference.target_url
        for track in timeline.audio_tracks()
        for c in track.find_clips()
    ]
    assert sorted(audio_urls) == sorted(p.resolve().as_uri() for p in fetched.audio)
    for path in fetched.audio:
        assert path.is_relative_to(tmp_path / "out")
        info = sf.info(str(path))
        assert info.samplerate == 48_000 and info.frames > 0
    # the server keeps its copy, registered with the same bytes
    on_server = client.fetch(reply.job_id, paths=True, timeout=RPC_TIMEOUT)
    assert on_server.timeline.is_relative_to(data / "jobs" / reply.job_id / "result")
    assert [p.read_bytes() for p in on_server.audio] == [
        (tmp_path / "out" / p.relative_to(on_server.timeline.parent)).read_bytes()
        for p in on_server.audio
    ]
    # a second fetch into the same folder refuses to overwrite, and leaves what is there
    before = sorted((tmp_path / "out").rglob("*"))
    with pytest.raises(TimelineWriteError, match="never overwrites"):
        client.fetch(reply.job_id, tmp_path / "out", timeout=RPC_TIMEOUT)
    assert sorted((tmp_path / "out").rglob("*")) == before


def test_analyze_pass_returns_cue_markers_and_no_audio(server, media, tmp_path):
    client, _ = server
    reply = client.submit(media / "demo_cut.otio", job_pass="analyze")
    job = client.wait(reply.job_id, timeout=RPC_TIMEOUT)
    assert job.state == pb.JOB_STATE_SUCCEEDED and job.job_pass == pb.PASS_ANALYZE
    fetched = client.fetch(reply.job_id, tmp_path, timeout=RPC_TIMEOUT)
    assert fetched.audio == [] and fetched.timeline.name == "demo_cut_analyze.otio"
    timeline = otio.adapters.read_from_file(str(fetched.timeline))
    cues = [m for m in timeline.tracks.markers if m.name.startswith(CUE_PREFIX)]
    assert len(cues) == job.result.onscreen > 0


def test_resubmitting_an_idempotency_key_returns_the_same_job(server):
    client, _ = server
    first = submit_sfx(client, "glass set down", idempotency_key="retry-me")
    again = submit_sfx(client, "glass set down", idempotency_key="retry-me")
    assert first.created and not again.created and again.job_id == first.job_id
    assert (
        code_of(lambda: submit_sfx(client, "other", idempotency_key="retry-me"))
        == CODE.ALREADY_EXISTS
    )
    assert client.wait(first.job_id, timeout=RPC_TIMEOUT).state == pb.JOB_STATE_SUCCEEDED
    assert submit_sfx(client, "glass set down", idempotency_key="retry-me").job_id == first.job_id
    ids = [j.job_id for j in client.list()]
    assert ids.count(first.job_id) == 1


def test_many_concurrent_clients_all_finish_and_none_is_lost(server):
    client, _ = server
    address = client.address

    def one(i: int) -> tuple[str, int, int]:
        with SonicVisionClient(address, timeout=RPC_TIMEOUT) as own:
            job_id = own.submit(content=sfx_timeline(f"knock {i}"), filename=f"c{i}.otio").job_id
            events = list(own.watch(job_id, timeout=RPC_TIMEOUT))
            return job_id, events[-1].state, len(events)

    with ThreadPoolExecutor(15) as pool:
        results = list(pool.map(one, range(15)))
    ids = {job_id for job_id, _, _ in results}
    assert len(ids) == 15
    assert all(state == pb.JOB_STATE_SUCCEEDED for _, state, _ in results)
    listed = {j.job_id for j in client.list(["succeeded"])}
    assert ids <= listed
    # pages cover the same jobs as one big list
    paged, token = [], ""
    while True:
        page = client._unary(
            client._stub.ListJobs, pb.ListJobsRequest(page_size=4, page_token=token)
        )
        paged += [j.job_id for j in page.jobs]
        token = page.next_page_token
        if not token:
            break
    assert paged == [j.job_id for j in client.list()]


def test_backends_health_and_reflection(server):
    client, _ = server
    backends = {(b.kind, b.name): b for b in client.backends()}
    motion = backends[(pb.BACKEND_KIND_DETECTOR, "motion")]
    assert motion.loaded and motion.available and motion.device == "cpu"
    assert backends[(pb.BACKEND_KIND_GENERATOR, "procedural")].loaded
    ldm = backends[(pb.BACKEND_KIND_GENERATOR, "ldm")]  # registered; needs weights to load
    assert not ldm.loaded
    assert ldm.available == all(
        importlib.util.find_spec(m) for m in ("torch", "diffusers", "transformers")
    )

    with grpc.insecure_channel(client.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "sonicvision.v1.Jobs"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflected = ProtoReflectionDescriptorDatabase(channel)
        services = reflected.get_services()
        assert "sonicvision.v1.Jobs" in services and "grpc.health.v1.Health" in services
        method = reflected.FindFileContainingSymbol("sonicvision.v1.Jobs")
        assert method.name == "sonicvision/v1/jobs.proto"


def test_health_is_not_serving_until_backends_load(tmp_path, monkeypatch):
    from sonicvision.server.service import backends as backend_module

    loading = threading.Event()
    real = backend_module.BackendTable.warm_up

    def slow(self):
        loading.wait(RPC_TIMEOUT)
        real(self)

    monkeypatch.setattr(backend_module.BackendTable, "warm_up", slow)
    with run_server(data_dir=tmp_path) as port:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service="")
            assert (
                health.Check(request, timeout=5).status
                == health_pb2.HealthCheckResponse.NOT_SERVING
            )
            loading.set()
            wait_serving(f"127.0.0.1:{port}")


def missing_media_timeline() -> bytes:
    timeline = otio.adapters.read_from_string(sfx_timeline("wind"), "otio_json")
    track = otio.schema.Track(name="V2", kind=otio.schema.TrackKind.Video)
    span = otio.opentime.TimeRange(RT(0, 24), RT(24, 24))
    ref = otio.schema.ExternalReference(target_url="/Volumes/Media/gone.mov", available_range=span)
    track.append(otio.schema.Clip(name="gone", media_reference=ref, source_range=span))
    timeline.tracks.append(track)
    return otio.adapters.write_to_string(timeline, "otio_json").encode()


def test_notes_and_warnings_reach_the_client_and_missing_media_fails_clearly(server, tmp_path):
    client, _ = server
    content = missing_media_timeline()
    failed = client.wait(client.submit(content=content, filename="m.otio").job_id, RPC_TIMEOUT)
    assert failed.state == pb.JOB_STATE_FAILED
    assert failed.error.code == "NOT_FOUND" and "gone" in failed.error.message

    skipping = pb.FoleyOptions(allow_missing=True, output_format=pb.OUTPUT_FORMAT_FCP_XML)
    reply = client.submit(content=content, filename="m.otio", options=skipping)
    events = list(client.watch(reply.job_id, timeout=RPC_TIMEOUT))
    job = client.get(reply.job_id)
    assert job.state == pb.JOB_STATE_SUCCEEDED
    warned = [e.warning for e in events if e.warning]
    assert warned == list(job.warnings)
    assert any("media not found" in w for w in warned)  # logged by the pipeline
    assert any("media missing, skipped" in w for w in warned)  # the analysis notes
    assert job.result.timeline == "m_foley.xml"
    fetched = client.fetch(reply.job_id, tmp_path, timeout=RPC_TIMEOUT)  # FCP XML relinks too
    urls = {c.media_reference.target_url for c in read_timeline(fetched.timeline).find_clips()}
    assert {p.resolve().as_uri() for p in fetched.audio} <= urls


# -- cancel, queue bound, watchers that leave ---------------------------------------------


def test_cancel_stops_a_running_job_between_stages(gated):
    client, gate, data = gated
    gate.arm()
    reply = submit_sfx(client, "cancel me")
    assert gate.reached.wait(RPC_TIMEOUT)
    job = client.cancel(reply.job_id)
    assert job.cancel_requested and job.state == pb.JOB_STATE_RUNNING
    gate.open()
    job = client.wait(reply.job_id, timeout=RPC_TIMEOUT)
    assert job.state == pb.JOB_STATE_CANCELLED and job.error.code == "CANCELLED"
    assert not (data / "jobs" / reply.job_id / "result").exists()
    assert code_of(lambda: client.fetch(reply.job_id, paths=True)) == CODE.FAILED_PRECONDITION
    assert client.cancel(reply.job_id).state == pb.JOB_STATE_CANCELLED  # cancelling again: no-op


def test_full_queue_refuses_with_resource_exhausted(gated):
    client, gate, _ = gated
    gate.arm()
    running = submit_sfx(client, "one")
    assert gate.reached.wait(RPC_TIMEOUT)
    queued = [submit_sfx(client, "two", idempotency_key="q-two"), submit_sfx(client, "three")]
    assert [client.get(r.job_id).queue_position for r in queued] == [1, 2]
    assert code_of(lambda: submit_sfx(client, "four")) == CODE.RESOURCE_EXHAUSTED
    # a retry of an accepted job is still answered while the queue is full
    assert submit_sfx(client, "two", idempotency_key="q-two").job_id == queued[0].job_id
    # cancelling a queued job frees its place at once
    assert client.cancel(queued[1].job_id).state == pb.JOB_STATE_CANCELLED
    fourth = submit_sfx(client, "four")
    gate.open()
    for r in (running, queued[0], fourth):
        assert client.wait(r.job_id, timeout=RPC_TIMEOUT).state == pb.JOB_STATE_SUCCEEDED


def test_a_watcher_that_leaves_does_not_stop_the_job(gated):
    client, gate, _ = gated
    gate.arm()
    reply = submit_sfx(client, "keep going")
    stream = client.watch(reply.job_id, timeout=RPC_TIMEOUT)
    seen = []
    for event in stream:
        seen.append(event)
        if event.state == pb.JOB_STATE_RUNNING:
            break
    stream.close()  # the client hangs up mid-job
    assert gate.reached.wait(RPC_TIMEOUT)
    gate.open()
    rest = list(client.watch(reply.job_id, after_seq=seen[-1].seq, timeout=RPC_TIMEOUT))
    assert rest[0].seq == seen[-1].seq + 1
    assert rest[-1].final and rest[-1].state == pb.JOB_STATE_SUCCEEDED


def test_stopping_the_server_fails_the_running_job_clearly_and_keeps_the_queue(media, tmp_path):
    gate = Gate()
    store = JobStore(tmp_path / "jobs.sqlite3")
    manager = JobManager(store, tmp_path, [media], runner=gate)
    manager.start()
    manager.set_ready()
    running, _ = manager.submit(JobSpec(timeline_name="a.otio"), sfx_timeline("one"))
    waiting, _ = manager.submit(JobSpec(timeline_name="b.otio"), sfx_timeline("two"))
    assert gate.reached.wait(RPC_TIMEOUT)
    stopper = threading.Thread(target=manager.stop)
    stopper.start()
    while not manager.stopping:
        time.sleep(0.005)
    gate.open()
    stopper.join(RPC_TIMEOUT)
    assert not stopper.is_alive()
    job = manager.get(running.id)
    assert job.state == State.FAILED and job.error.code == "UNAVAILABLE"
    assert "server stopped" in job.error.message
    assert manager.get(waiting.id).state == State.QUEUED  # runs after the next start
    store.close()


# -- refusals ------------------------------------------------------------------------------


def test_paths_outside_the_media_roots_are_refused(server, media, tmp_path):
    client, _ = server
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.otio"
    secret.write_bytes(sfx_timeline())
    (media / "escape.otio").symlink_to(secret)
    (media / "escape_dir").symlink_to(outside, target_is_directory=True)
    os.mkfifo(media / "pipe.otio")

    def refused(path: str) -> RemoteError:
        with pytest.raises(RemoteError) as info:
            client.submit(server_path=path)
        assert path in info.value.details
        return info.value

    assert (
        refused(str(media / ".." / secret.relative_to(tmp_path.parent))).code
        == CODE.PERMISSION_DENIED
    )
    assert refused(str(media / "escape.otio")).code == CODE.PERMISSION_DENIED
    assert refused(str(media / "escape_dir" / "secret.otio")).code == CODE.PERMISSION_DENIED
    assert refused(str(secret)).code == CODE.PERMISSION_DENIED
    assert refused(str(media / "pipe.otio")).code == CODE.INVALID_ARGUMENT
    assert refused(str(media / "missing.otio")).code == CODE.NOT_FOUND
    assert refused("demo_cut.otio").code == CODE.INVALID_ARGUMENT  # relative
    # a server path under the root is fine
    job = client.wait(
        client.submit(server_path=str(media / "demo_cut.otio"), job_pass="analyze").job_id
    )
    assert job.state == pb.JOB_STATE_SUCCEEDED

    bad_options = [
        pb.FoleyOptions(media_roots=[str(outside)]),
        pb.FoleyOptions(generator=f"library:{outside}"),
        pb.FoleyOptions(media_roots=[str(media / "escape_dir")]),
        pb.FoleyOptions(generator=f"ldm:{outside}"),
        pb.FoleyOptions(generator=f"ldm:{media},adapter={outside}"),
        pb.FoleyOptions(detector=f"r2plus1d:{outside},threshold=0.5"),
        pb.FoleyOptions(describer=f"vlm:{outside}"),
    ]
    for options in bad_options:
        assert code_of(lambda o=options: submit_sfx(client, options=o)) == CODE.PERMISSION_DENIED
    for name in ("../evil.otio", "sub/evil.otio", ".hidden.otio", ""):
        assert (
            code_of(lambda n=name: client.submit(content=b"{}", filename=n))
            == CODE.INVALID_ARGUMENT
        )


def test_uploaded_timeline_cannot_read_media_outside_the_roots(server, media, tmp_path):
    client, data = server
    outside = tmp_path / "footage"
    outside.mkdir()
    stolen = outside / "secret_take.mp4"
    stolen.write_bytes((media / "cup_drop.mp4").read_bytes())

    def outcome(path: Path, allow_missing: bool = False) -> pb.Job:
        content = timeline_with_media(tmp_path / "cut.otio", path)
        options = pb.FoleyOptions(allow_missing=allow_missing)
        reply = client.submit(content=content, filename="cut.otio", options=options)
        job = client.wait(reply.job_id, timeout=RPC_TIMEOUT)
        assert not (data / "jobs" / reply.job_id / "result").exists() or allow_missing
        return job

    # a file outside the roots is as good as missing: the answer never says it exists
    job, missing = outcome(stolen), outcome(outside / "no_such_take.mp4")
    assert job.state == missing.state == pb.JOB_STATE_FAILED
    assert job.error.code == missing.error.code == "NOT_FOUND"
    assert job.error.message.replace("secret", "no_such") == missing.error.message
    skipped, gone = outcome(stolen, True), outcome(outside / "no_such_take.mp4", True)
    assert skipped.state == gone.state == pb.JOB_STATE_SUCCEEDED
    assert skipped.result.onscreen == gone.result.onscreen == 0
    # the same file inside a root is read
    inside = timeline_with_media(tmp_path / "ok.otio", media / "cup_drop.mp4")
    ok = client.wait(client.submit(content=inside, filename="ok.otio").job_id, timeout=RPC_TIMEOUT)
    assert ok.state == pb.JOB_STATE_SUCCEEDED


def test_bad_requests_are_invalid_argument_and_unknown_jobs_not_found(server):
    client, _ = server
    raw = {
        name: client._channel.unary_unary(f"/sonicvision.v1.Jobs/{name}")
        for name in ("SubmitJob", "GetJob", "ListJobs")
    }
    fetch_raw = client._channel.unary_stream("/sonicvision.v1.Jobs/FetchResult")
    good = pb.SubmitJobRequest(
        upload=pb.UploadedTimeline(filename="cut.otio", content=sfx_timeline())
    ).SerializeToString()
    attempts = {
        "garbage": (raw["SubmitJob"], b"\xff\xff\xff\xff"),
        "truncated": (raw["SubmitJob"], good[: len(good) // 2]),
        "bad pass": (raw["SubmitJob"], pb.SubmitJobRequest(job_pass=99).SerializeToString()),
        "bad format": (
            raw["SubmitJob"],
            pb.SubmitJobRequest(
                upload=pb.UploadedTimeline(filename="cut.otio", content=sfx_timeline()),
                options=pb.FoleyOptions(output_format=7),
            ).SerializeToString(),
        ),
        "bad state": (raw["ListJobs"], pb.ListJobsRequest(states=[42]).SerializeToString()),
        "bad page": (raw["ListJobs"], pb.ListJobsRequest(page_token="x").SerializeToString()),
        "get garbage": (raw["GetJob"], b"\x0a\xff"),
    }
    for label, (method, body) in attempts.items():
        with pytest.raises(grpc.RpcError) as info:
            method(body, timeout=5)
        assert info.value.code() == CODE.INVALID_ARGUMENT, label
    with pytest.raises(grpc.RpcError) as info:
        list(
            fetch_raw(pb.FetchResultRequest(job_id="0" * 16, mode=9).SerializeToString(), timeout=5)
        )
    assert info.value.code() == CODE.INVALID_ARGUMENT

    content = b'{"OTIO_SCHEMA": "Timeline.1", "tracks": '
    with pytest.raises(RemoteError) as info:
        client.submit(content=content, filename="broken.otio")
    assert info.value.code == CODE.INVALID_ARGUMENT and "broken.otio" in info.value.details
    for options, field in [
        (pb.FoleyOptions(detector="telepathy"), "detector"),
        (pb.FoleyOptions(path_maps=["no-equals-sign"]), "path-map"),
        (pb.FoleyOptions(rate="fast"), "rate"),
        (pb.FoleyOptions(marker_rule=pb.MarkerRule(default_seconds=-1)), "default_seconds"),
    ]:
        with pytest.raises(RemoteError) as info:
            submit_sfx(client, options=options)
        assert info.value.code == CODE.INVALID_ARGUMENT and field in info.value.details
    for call in (
        lambda: client.get("0123456789abcdef"),
        lambda: client.cancel("nope"),
        lambda: list(client.watch("../../etc", timeout=5)),
        lambda: client.fetch("0123456789abcdef", paths=True),
    ):
        assert code_of(call) == CODE.NOT_FOUND


def test_upload_limit(tmp_path):
    with run_server(data_dir=tmp_path, max_upload=4096) as port:
        with SonicVisionClient(f"127.0.0.1:{port}", timeout=RPC_TIMEOUT) as client:
            padded = sfx_timeline() + b" " * 4096
            with pytest.raises(RemoteError) as info:
                client.submit(content=padded, filename="big.otio")
            assert info.value.code == CODE.INVALID_ARGUMENT and "limit" in info.value.details
            huge = b" " * (3 * 1024 * 1024)  # beyond the limit plus headroom: gRPC refuses it
            assert code_of(lambda: client.submit(content=huge, filename="huge.otio")) == (
                CODE.RESOURCE_EXHAUSTED
            )


# -- who may connect ------------------------------------------------------------------------


def test_token_is_required_when_configured_but_not_for_health(tmp_path):
    with run_server(data_dir=tmp_path, token="s3cret-token") as port:
        address = f"127.0.0.1:{port}"
        wait_serving(address)  # health needs no token
        with SonicVisionClient(address, timeout=5) as anonymous:
            assert code_of(anonymous.backends) == CODE.UNAUTHENTICATED
            assert (
                code_of(lambda: list(anonymous.watch("0" * 16, timeout=5))) == CODE.UNAUTHENTICATED
            )
        with SonicVisionClient(address, token="wrong", timeout=5) as wrong:
            assert code_of(lambda: submit_sfx(wrong)) == CODE.UNAUTHENTICATED
        with SonicVisionClient(address, token="s3cret-token", timeout=5) as good:
            assert good.backends()
            job = good.wait(submit_sfx(good).job_id, timeout=RPC_TIMEOUT)
            assert job.state == pb.JOB_STATE_SUCCEEDED
        with grpc.insecure_channel(address) as channel:
            reflected = ProtoReflectionDescriptorDatabase(channel)
            with pytest.raises(grpc.RpcError) as info:
                reflected.get_services()
            assert info.value.code() == CODE.UNAUTHENTICATED


def test_non_loopback_needs_tls_and_token(tmp_path):
    with pytest.raises(ConfigError, match="TLS cert and key and a token"):
        with run_server("0.0.0.0", data_dir=tmp_path):
            pass
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    with pytest.raises(ConfigError, match="a token"):
        with run_server("0.0.0.0", data_dir=tmp_path, tls_cert=cert, tls_key=key):
            pass
    with pytest.raises(ConfigError, match="TLS"):
        with run_server("192.0.2.1", data_dir=tmp_path, token="t"):
            pass


def test_tls_with_token_serves_beyond_loopback(tmp_path):
    cert, key = make_test_certificate(tmp_path)
    with run_server(
        "0.0.0.0", data_dir=tmp_path / "d", token="tok", tls_cert=cert, tls_key=key
    ) as port:
        address = f"localhost:{port}"
        with SonicVisionClient(address, token="tok", tls_ca=cert, timeout=10) as client:
            assert client.backends()
        with SonicVisionClient(address, tls_ca=cert, timeout=10) as no_token:
            assert code_of(no_token.backends) == CODE.UNAUTHENTICATED
        with SonicVisionClient(address, token="tok", timeout=5) as plaintext:
            assert code_of(plaintext.backends) == CODE.UNAVAILABLE


def test_one_server_per_data_folder(tmp_path):
    with run_server(data_dir=tmp_path):
        with pytest.raises(ConfigError, match="another SonicVision server"):
            with run_server(data_dir=tmp_path):
                pass


# -- the jobs command ------------------------------------------------------------------------


def run_jobs(argv: list[str], capsys) -> dict | list:
    parser = argparse.ArgumentParser()
    service_cli.jobs_options(parser)
    assert service_cli.cmd_jobs(parser.parse_args([*argv, "--json"])) == 0
    return json.loads(capsys.readouterr().out)


def test_jobs_command_lists_shows_fetches_and_cancels(server, tmp_path, capsys):
    client, _ = server
    job_id = submit_sfx(client, "cli knock").job_id
    client.wait(job_id, timeout=RPC_TIMEOUT)
    where = ["--server", client.address]
    assert job_id in [
        j["job_id"] for j in run_jobs(["list", *where, "--state", "succeeded"], capsys)
    ]
    shown = run_jobs(["show", job_id, *where], capsys)
    assert shown["state"] == "JOB_STATE_SUCCEEDED" and shown["result"]["clips"] == 1
    fetched = run_jobs(["fetch", job_id, "--out", str(tmp_path), *where], capsys)
    assert Path(fetched["timeline"]).is_file() and len(fetched["audio"]) == 1
    assert run_jobs(["cancel", job_id, *where], capsys)["state"] == "JOB_STATE_SUCCEEDED"

    assert cli.main(["jobs", "show", "0123456789abcdef", *where]) == 2
    assert "NOT_FOUND" in capsys.readouterr().err
    assert cli.main(["jobs", "fetch", job_id, *where]) == 2
    assert "--out" in capsys.readouterr().err
