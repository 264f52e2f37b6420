"""The HTTP/JSON face: real servers on free ports, real jobs, the same rules as gRPC."""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import ssl
from pathlib import Path

import grpc
import opentimelineio as otio
import pytest
from service_support import make_test_certificate, sfx_timeline, timeline_with_media, wait_serving

from sonicvision.cli import service as service_cli
from sonicvision.errors import ConfigError
from sonicvision.server.service.app import run_server
from sonicvision.server.service.http import HTTP_STATUS, serve_http

TOKEN = "s3cret-token"


def call(port: int, method: str, path: str, body=None, *, token=None, headers=None, raw=None):
    """One request; returns (status, parsed JSON or bytes, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = {"Content-Type": "application/json"} if method == "POST" else {}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers=sent)
    reply = conn.getresponse()
    payload = reply.read()
    conn.close()
    kind = reply.getheader("Content-Type", "")
    parsed = json.loads(payload) if kind.startswith("application/json") else payload
    return reply.status, parsed, dict(reply.getheaders())


def submit_body(content: bytes, **extra) -> dict:
    upload = {"filename": "cut.otio", "content": base64.b64encode(content).decode()}
    return {"upload": upload, **extra}


def poll_to_end(port: int, job_id: str, token=None) -> list[dict]:
    """Long-poll the events endpoint from the start until the final event."""
    events, after = [], 0
    for _ in range(200):
        status, reply, _ = call(
            port, "GET", f"/v1/jobs/{job_id}/events?after_seq={after}&wait=5", token=token
        )
        assert status == 200, reply
        events += reply["events"]
        after = reply["next_after_seq"]
        if reply["final"]:
            return events
    raise AssertionError("job never reached a final event")


@pytest.fixture(scope="module")
def face(tmp_path_factory):
    data = tmp_path_factory.mktemp("http-data")
    with run_server(data_dir=data, http_port=0) as port:
        wait_serving(f"127.0.0.1:{port}")
        yield port.http_port, data


@pytest.fixture(scope="module")
def done_job(face):
    """One finished SFX job (renders in a fraction of a second), with its events."""
    port, _ = face
    status, reply, _ = call(port, "POST", "/v1/jobs", submit_body(sfx_timeline("glass clink")))
    assert status == 201, reply
    return reply["job_id"], poll_to_end(port, reply["job_id"])


def test_submit_poll_and_fetch_a_whole_job(face, done_job):
    port, data = face
    job_id, events = done_job
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["state"] == "JOB_STATE_QUEUED"
    assert events[-1]["final"] and events[-1]["state"] == "JOB_STATE_SUCCEEDED"
    assert not any(e["final"] for e in events[:-1])
    renders = [e for e in events if e["stage"] == "render"]
    assert renders and renders[-1]["clips_rendered"] == renders[-1]["total"] == 1

    status, job, _ = call(port, "GET", f"/v1/jobs/{job_id}")
    assert status == 200 and job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["result"]["offscreen"] == 1 and job["result"]["clips"] == 1

    status, result, _ = call(port, "GET", f"/v1/jobs/{job_id}/result")
    assert status == 200
    timeline = otio.adapters.read_from_string(result["timeline"]["text"], "otio_json")
    assert [t.name for t in timeline.audio_tracks()] == ["SV Off-screen"]
    assert len(result["audio"]) == 1
    audio = result["audio"][0]
    assert Path(audio["server_path"]).is_relative_to(data / "jobs" / job_id / "result")
    clip_url = timeline.audio_tracks()[0].find_clips()[0].media_reference.target_url
    assert audio["timeline_url"] == clip_url

    status, wav, headers = call(port, "GET", audio["url"])
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    assert wav[:4] == b"RIFF" and len(wav) == audio["size"]
    assert hashlib.sha256(wav).hexdigest() == audio["sha256"]


def test_events_resume_after_a_sequence_number_and_end_at_once(face, done_job):
    port, _ = face
    job_id, events = done_job
    status, reply, _ = call(port, "GET", f"/v1/jobs/{job_id}/events?after_seq=2&wait=0")
    assert [e["seq"] for e in reply["events"]] == [e["seq"] for e in events[2:]]
    last = events[-1]["seq"]
    status, reply, _ = call(port, "GET", f"/v1/jobs/{job_id}/events?after_seq={last}&wait=5")
    assert status == 200 and reply == {
        "job_id": job_id,
        "events": [],
        "final": True,
        "next_after_seq": last,
    }


def test_list_jobs_and_filter_by_state(face, done_job):
    port, _ = face
    job_id, _ = done_job
    status, reply, _ = call(port, "GET", "/v1/jobs?state=succeeded")
    assert status == 200 and job_id in [j["job_id"] for j in reply["jobs"]]
    status, reply, _ = call(port, "GET", "/v1/jobs?state=cancelled")
    assert job_id not in [j["job_id"] for j in reply["jobs"]]
    status, reply, _ = call(port, "GET", "/v1/jobs?state=sleeping")
    assert status == 400 and reply["error"]["field"] == "state"


def test_idempotency_key_returns_the_first_job(face):
    port, _ = face
    body = submit_body(sfx_timeline("tap"), idempotency_key="http-key-1", job_pass="PASS_RENDER")
    first = call(port, "POST", "/v1/jobs", body)
    again = call(port, "POST", "/v1/jobs", body)
    assert (first[0], again[0]) == (201, 200)
    assert first[1]["job_id"] == again[1]["job_id"] and again[1]["created"] is False
    other = submit_body(sfx_timeline("knock"), idempotency_key="http-key-1")
    status, reply, _ = call(port, "POST", "/v1/jobs", other)
    assert status == 409 and reply["error"]["code"] == "ALREADY_EXISTS"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bogus": 1}, "bogus"),
        ({"options": {"detector": "motion", "colour": "red"}}, "options.colour"),
        ({"job_pass": "PASS_NOPE"}, "job_pass"),
        ({"options": {"seed": "many"}}, "options.seed"),
        ({"options": {"marker_rule": {"prefix": 5}}}, "options.marker_rule.prefix"),
        ({"job_pass": "PASS_FOLEY"}, "timeline"),
        ({"upload": {"filename": "cut.otio"}}, "upload.content"),
        ({"upload": {"filename": "../cut.otio", "content": "YWJj"}}, "upload.filename"),
    ],
)
def test_bad_requests_are_400_naming_the_field(face, body, field):
    port, _ = face
    status, reply, _ = call(port, "POST", "/v1/jobs", body)
    assert status == 400, reply
    assert reply["error"]["code"] == "INVALID_ARGUMENT"
    assert reply["error"]["field"] == field
    assert reply["error"]["message"]


def test_body_that_is_not_json_is_refused(face):
    port, _ = face
    status, reply, _ = call(port, "POST", "/v1/jobs", raw=b'{"upload": ')
    assert status == 400 and reply["error"]["field"] == "body"
    assert "not JSON" in reply["error"]["message"]
    status, reply, _ = call(port, "POST", "/v1/jobs", raw=b"[1, 2]")
    assert status == 400 and reply["error"]["field"] == "body"


def test_a_broken_timeline_is_refused_at_submit(face):
    port, _ = face
    status, reply, _ = call(port, "POST", "/v1/jobs", submit_body(b"{not a timeline"))
    assert status == 400 and reply["error"]["code"] == "INVALID_ARGUMENT"


def test_unknown_jobs_files_and_routes_are_404(face, done_job):
    port, _ = face
    job_id, _ = done_job
    for path in (
        "/v1/jobs/0123456789abcdef",
        "/v1/jobs/not-an-id/events",
        "/v1/jobs/0123456789abcdef/result",
        f"/v1/jobs/{job_id}/files/audio/none.wav",
        f"/v1/jobs/{job_id}/files/../../jobs.sqlite3",
        "/v2/everything",
    ):
        status, reply, _ = call(port, "GET", path)
        assert status == 404, path
        assert reply["error"]["code"] == "NOT_FOUND"
    status, reply, _ = call(port, "POST", "/v1/jobs/0123456789abcdef:cancel")
    assert status == 404


def test_wrong_method_and_wrong_content_type(face):
    port, _ = face
    status, reply, headers = call(port, "DELETE", "/v1/jobs")
    assert status == 405 and headers["Allow"] == "POST, GET"
    status, reply, _ = call(
        port,
        "POST",
        "/v1/jobs",
        raw=json.dumps(submit_body(sfx_timeline())).encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert status == 415  # a cross-site form cannot send application/json without asking


def test_a_foreign_host_header_is_refused_on_loopback(face):
    port, _ = face
    status, reply, _ = call(port, "GET", "/v1/jobs", headers={"Host": "evil.example:80"})
    assert status == 403 and reply["error"]["code"] == "PERMISSION_DENIED"
    status, reply, _ = call(port, "GET", "/v1/health", headers={"Host": f"localhost:{port}"})
    assert status == 200 and reply == {"status": "SERVING"}


def test_failed_job_reports_its_error_and_has_no_result(face, tmp_path):
    port, _ = face
    content = timeline_with_media(tmp_path / "cut.otio", tmp_path / "missing.mov")
    status, reply, _ = call(port, "POST", "/v1/jobs", submit_body(content))
    assert status == 201
    job_id = reply["job_id"]
    events = poll_to_end(port, job_id)
    assert events[-1]["state"] == "JOB_STATE_FAILED"
    assert events[-1]["error"]["code"] == "NOT_FOUND"
    status, reply, _ = call(port, "GET", f"/v1/jobs/{job_id}/result")
    assert status == 400 and reply["error"]["code"] == "FAILED_PRECONDITION"
    status, reply, _ = call(port, "POST", f"/v1/jobs/{job_id}:cancel")
    assert status == 200 and reply["state"] == "JOB_STATE_FAILED"  # final: unchanged


def test_bad_query_parameters(face, done_job):
    port, _ = face
    job_id, _ = done_job
    status, reply, _ = call(port, "GET", f"/v1/jobs/{job_id}/events?after_seq=x")
    assert status == 400 and reply["error"]["field"] == "after_seq"
    status, reply, _ = call(port, "GET", f"/v1/jobs/{job_id}/events?after_seq=-1")
    assert status == 400 and reply["error"]["field"] == "after_seq"
    status, reply, _ = call(port, "GET", f"/v1/jobs/{job_id}/events?wait=3600")
    assert status == 400 and reply["error"]["field"] == "wait"


def test_backends_are_listed(face):
    port, _ = face
    status, reply, _ = call(port, "GET", "/v1/backends")
    names = {(b["kind"], b["name"]) for b in reply["backends"]}
    assert ("BACKEND_KIND_GENERATOR", "procedural") in names


def test_token_is_required_when_configured(tmp_path):
    with run_server(data_dir=tmp_path, token=TOKEN, http_port=0) as port:
        http_port = port.http_port
        status, reply, headers = call(http_port, "GET", "/v1/jobs")
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
        assert (
            reply["error"]["code"] == "UNAUTHENTICATED" and "missing" in reply["error"]["message"]
        )
        status, reply, _ = call(http_port, "GET", "/v1/jobs", token="guess")
        assert status == 401 and "wrong" in reply["error"]["message"]
        status, _, _ = call(http_port, "POST", "/v1/jobs", submit_body(b"x"), token="guess")
        assert status == 401
        status, reply, _ = call(http_port, "GET", "/v1/jobs", token=TOKEN)
        assert status == 200 and reply["jobs"] == []
        status, _, _ = call(http_port, "GET", "/v1/health")
        assert status == 200  # liveness needs no token


def test_non_loopback_needs_tls_and_token(tmp_path):
    with pytest.raises(ConfigError, match="TLS"):
        with run_server(host="0.0.0.0", data_dir=tmp_path, token=TOKEN, http_port=0):
            pass
    with pytest.raises(ConfigError, match="TLS"):
        with serve_http(object(), host="0.0.0.0", port=0, token=TOKEN):  # type: ignore[arg-type]
            pass


def test_every_grpc_code_has_one_http_status():
    assert set(HTTP_STATUS) == set(grpc.StatusCode)
    assert HTTP_STATUS[grpc.StatusCode.NOT_FOUND] == 404
    assert HTTP_STATUS[grpc.StatusCode.INVALID_ARGUMENT] == 400
    assert HTTP_STATUS[grpc.StatusCode.UNAVAILABLE] == 503


def test_serve_takes_an_http_port():
    parser = argparse.ArgumentParser()
    service_cli.serve_options(parser)
    assert parser.parse_args(["--http-port", "50052"]).http_port == 50052
    assert parser.parse_args([]).http_port is None


def test_premiere_fixtures_have_the_live_shapes(face, done_job):
    """The Premiere panel's tests replay recorded replies: they must keep the server's shape."""
    port, _ = face
    job_id, events = done_job
    fixtures = Path(__file__).resolve().parents[1] / "plugin" / "premiere" / "test" / "fixtures"
    recorded_result = json.loads((fixtures / "result.json").read_text())
    recorded_pages = json.loads((fixtures / "events.json").read_text())
    recorded_submit = json.loads((fixtures / "submit.json").read_text())

    _, live_result, _ = call(port, "GET", f"/v1/jobs/{job_id}/result")
    _, live_page, _ = call(port, "GET", f"/v1/jobs/{job_id}/events?after_seq=0&wait=0")
    _, live_job, _ = call(port, "GET", f"/v1/jobs/{job_id}")
    assert set(recorded_result) == set(live_result)
    assert set(recorded_result["timeline"]) == set(live_result["timeline"])
    assert set(recorded_result["audio"][0]) == set(live_result["audio"][0])
    assert set(recorded_pages[0]) == set(live_page)
    assert set(recorded_pages[0]["events"][0]) <= set(live_page["events"][0])
    assert set(recorded_submit["job"]) <= set(live_job)  # a finished job has more set
    assert recorded_pages[-1]["final"] and recorded_pages[-1]["events"][-1]["final"]
    for audio in recorded_result["audio"]:
        assert audio["url"].endswith(audio["name"])


def test_tls_and_token_beyond_loopback(tmp_path):
    cert, key = make_test_certificate(tmp_path)
    with run_server(
        "0.0.0.0", data_dir=tmp_path / "d", token=TOKEN, tls_cert=cert, tls_key=key, http_port=0
    ) as port:
        context = ssl.create_default_context(cafile=str(cert))

        def https(token=None):
            conn = http.client.HTTPSConnection("localhost", port.http_port, context=context)
            conn.request("GET", "/v1/jobs", headers={"Authorization": f"Bearer {token}"})
            reply = conn.getresponse()
            status, body = reply.status, json.loads(reply.read())
            conn.close()
            return status, body

        assert https(TOKEN) == (200, {"jobs": [], "next_page_token": ""})
        assert https("guess")[0] == 401
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            call(port.http_port, "GET", "/v1/jobs", token=TOKEN)  # plaintext to a TLS port
