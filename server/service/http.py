"""The Jobs service over HTTP/JSON, for hosts that have no gRPC client (Premiere's UXP panels).

Not a second API: every route calls the same ``JobsServicer`` method bodies the gRPC server
runs, so checks, translation and errors are shared. Messages travel in protobuf's canonical
JSON mapping with proto field names (``job_pass``, not ``jobPass``); uploaded bytes are base64.
Errors carry the gRPC code name and the HTTP status for it from one table (Google's mapping).
The same security rules hold: loopback unless TLS and a token; a bearer token when set.

    POST /v1/jobs                          SubmitJobRequest -> SubmitJobResponse
    GET  /v1/jobs?state=&page_size=&page_token=  -> ListJobsResponse
    GET  /v1/jobs/{id}                           -> Job
    POST /v1/jobs/{id}:cancel                    -> Job
    GET  /v1/jobs/{id}/events?after_seq=N&wait=S -> {events, final, next_after_seq} (long poll)
    GET  /v1/jobs/{id}/result                    -> timeline text, audio files and their URLs
    GET  /v1/jobs/{id}/files/{name}              -> one result file's bytes
    GET  /v1/backends, GET /v1/health (no token needed)
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from sonicvision.errors import ConfigError
from sonicvision.v1 import jobs_pb2 as pb

from .errors import InvalidRequest, JobNotFound, ResultDamaged, is_expected, message_for, status_for
from .security import RateLimitedLog, check_bind, is_loopback
from .servicer import JobsServicer, _file_chunks, _HttpContext

logger = logging.getLogger(__name__)

DEFAULT_HTTP_PORT = 50052
MAX_WAIT_S = 30.0
DEFAULT_WAIT_S = 10.0
TLS_HANDSHAKE_S = 10.0
IDLE_S = 20.0  # a connection that sends nothing for this long is closed (each holds a thread)
MAX_CONNECTIONS = 64  # beyond this many open connections a new one is closed at once
HEADROOM = 1024 * 1024  # JSON around the base64 upload
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}

# google.rpc's HTTP mapping (google/rpc/code.proto): the one place an HTTP status is chosen.
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

STATES = {
    name.removeprefix("JOB_STATE_").lower(): value
    for name, value in pb.JobState.items()
    if value != pb.JOB_STATE_UNSPECIFIED
}


class HttpRefusal(Exception):
    """A refusal that is about HTTP itself (auth, method, media type), not the Jobs service."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class _Call(_HttpContext):
    """What a servicer method asks of its gRPC context, for one HTTP request."""

    def __init__(self, active=lambda: True) -> None:
        self._active = active

    def is_active(self) -> bool:
        return self._active()

    def add_callback(self, callback) -> bool:
        return True  # the request ends with the handler; nothing to wake later


def to_json(message: Message) -> dict:
    """Canonical JSON mapping, proto field names, every field present, int64 as numbers."""
    return json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        unquote_int64_if_possible=True,
    )


def _parse_error_field(text: str) -> str:
    """The dotted field a protobuf JSON parse error is about, e.g. ``options.marker_rule``."""
    unknown = re.search(r'has no field named "([^"]+)" at "([^"]+)"', text)
    if unknown:
        return ".".join([*unknown.group(2).split(".")[1:], unknown.group(1)])
    return ".".join(re.findall(r"Failed to parse (\w+) field", text))


def parse_message(body: bytes, message: Message) -> Message:
    """A JSON request body into ``message``; a bad body names the field it broke on."""
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"request body is not JSON: {exc}", field="body") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object", field="body")
    try:
        return json_format.ParseDict(data, message)
    except json_format.ParseError as exc:
        text = " ".join(str(exc).split())
        raise InvalidRequest(text, field=_parse_error_field(text) or "body") from None


def _int_param(query: dict, name: str, default: int) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        value = int(values[-1])
    except ValueError:
        raise InvalidRequest(f"{name} must be a whole number", field=name) from None
    if not 0 <= value < 2**31:
        raise InvalidRequest(f"{name} must be in 0..{2**31 - 1}", field=name)
    return value


def _float_param(query: dict, name: str, default: float) -> float:
    values = query.get(name)
    if not values:
        return default
    try:
        value = float(values[-1])
    except ValueError:
        raise InvalidRequest(f"{name} must be a number of seconds", field=name) from None
    if not 0 <= value <= MAX_WAIT_S:
        raise InvalidRequest(f"{name} must be between 0 and {MAX_WAIT_S:g} seconds", field=name)
    return value


class JobsHttp:
    """The routes: each translates HTTP to one servicer call and the reply back to JSON."""

    ROUTES = [
        ("POST", re.compile(r"/v1/jobs"), "submit"),
        ("GET", re.compile(r"/v1/jobs"), "list_jobs"),
        ("GET", re.compile(r"/v1/jobs/([^/:]+)"), "get_job"),
        ("POST", re.compile(r"/v1/jobs/([^/:]+):cancel"), "cancel"),
        ("GET", re.compile(r"/v1/jobs/([^/:]+)/events"), "events"),
        ("GET", re.compile(r"/v1/jobs/([^/:]+)/result"), "result"),
        ("GET", re.compile(r"/v1/jobs/([^/:]+)/files/(.+)"), "file"),
        ("GET", re.compile(r"/v1/backends"), "backends"),
        ("GET", re.compile(r"/v1/health"), "health"),
    ]
    OPEN = {"health"}  # no token needed: liveness only

    def __init__(self, servicer: JobsServicer) -> None:
        self.servicer = servicer

    def _call(self, name: str, request: Message, context: _Call | None = None):
        """The servicer method's own body (under its gRPC error wrapper), errors raised as ours."""
        method = getattr(type(self.servicer), name).__wrapped__
        return method(self.servicer, request, context or _Call())

    def route(self, method: str, path: str) -> tuple[str, tuple[str, ...]]:
        allowed = []
        for verb, pattern, name in self.ROUTES:
            match = pattern.fullmatch(path)
            if match:
                if verb == method:
                    return name, tuple(unquote(g) for g in match.groups())
                allowed.append(verb)
        if allowed:
            raise HttpRefusal(
                405,
                "UNIMPLEMENTED",
                f"{method} is not allowed on {path}; use {', '.join(allowed)}",
                {"Allow": ", ".join(allowed)},
            )
        raise HttpRefusal(404, "NOT_FOUND", f"no route {path!r}; routes start with /v1/jobs")

    # -- the routes -----------------------------------------------------------------------------

    def submit(self, body: bytes, query: dict) -> tuple[int, dict]:
        request = parse_message(body, pb.SubmitJobRequest())
        reply = self._call("SubmitJob", request)
        return (201 if reply.created else 200), to_json(reply)

    def list_jobs(self, body: bytes, query: dict) -> tuple[int, dict]:
        states = []
        for name in query.get("state", []):
            if name.lower() not in STATES:
                raise InvalidRequest(
                    f"unknown state {name!r}; one of {', '.join(STATES)}", field="state"
                )
            states.append(STATES[name.lower()])
        request = pb.ListJobsRequest(
            states=states,
            page_size=_int_param(query, "page_size", 0),
            page_token=(query.get("page_token") or [""])[-1],
        )
        return 200, to_json(self._call("ListJobs", request))

    def get_job(self, body: bytes, query: dict, job_id: str) -> tuple[int, dict]:
        return 200, to_json(self._call("GetJob", pb.GetJobRequest(job_id=job_id)))

    def cancel(self, body: bytes, query: dict, job_id: str) -> tuple[int, dict]:
        return 200, to_json(self._call("CancelJob", pb.CancelJobRequest(job_id=job_id)))

    def events(self, body: bytes, query: dict, job_id: str) -> tuple[int, dict]:
        """Long poll: the events after ``after_seq`` now, or the first that come within ``wait``."""
        after = _int_param(query, "after_seq", 0)
        deadline = time.monotonic() + _float_param(query, "wait", DEFAULT_WAIT_S)
        events: list[pb.JobEvent] = []
        # WatchJob yields stored events, then waits; once one arrived it may stop at the next wait.
        context = _Call(active=lambda: not events and time.monotonic() < deadline)
        request = pb.WatchJobRequest(job_id=job_id, after_seq=after)
        for event in self._call("WatchJob", request, context):
            events.append(event)
        final = bool(events and events[-1].final)
        if not final and not events:
            job = self._call("GetJob", pb.GetJobRequest(job_id=job_id))
            final = job.state in (
                pb.JOB_STATE_SUCCEEDED,
                pb.JOB_STATE_FAILED,
                pb.JOB_STATE_CANCELLED,
            )
        return 200, {
            "job_id": job_id,
            "events": [to_json(e) for e in events],
            "final": final,
            "next_after_seq": events[-1].seq if events else after,
        }

    def _files(self, job_id: str) -> list[pb.ResultFile]:
        request = pb.FetchResultRequest(job_id=job_id, mode=pb.FETCH_MODE_PATHS)
        return [c.file for c in self._call("FetchResult", request) if c.HasField("file")]

    def result(self, body: bytes, query: dict, job_id: str) -> tuple[int, dict]:
        """The result timeline's text and every audio file: server path and download URL."""
        files = self._files(job_id)
        timeline = next(f for f in files if f.role == pb.FILE_ROLE_TIMELINE)
        try:
            text = Path(timeline.server_path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ResultDamaged(f"result timeline unreadable: {exc}", path=timeline.name) from None

        def entry(f: pb.ResultFile) -> dict:
            data = to_json(f)
            data["url"] = f"/v1/jobs/{job_id}/files/{quote(f.name)}"
            return data

        return 200, {
            "job_id": job_id,
            "timeline": {**entry(timeline), "text": text},
            "audio": [entry(f) for f in files if f.role == pb.FILE_ROLE_AUDIO],
        }

    def file(self, body: bytes, query: dict, job_id: str, name: str) -> tuple[int, bytes]:
        """Read whole and checked against the recorded checksum before a byte is sent."""
        for record in self.servicer.jobs.files(job_id):
            if record.name == name:
                return 200, b"".join(c.data for c in _file_chunks(record))
        raise JobNotFound(f"job {job_id} has no result file {name!r}", field="name")

    def backends(self, body: bytes, query: dict) -> tuple[int, dict]:
        return 200, to_json(self._call("ListBackends", pb.ListBackendsRequest()))

    def health(self, body: bytes, query: dict) -> tuple[int, dict]:
        return 200, {"status": "SERVING" if not self.servicer.jobs.stopping else "NOT_SERVING"}


def error_body(code: str, message: str, exc: BaseException | None = None) -> dict:
    error = {"code": code, "message": message}
    for key in ("path", "clip", "field"):
        value = getattr(exc, key, None) if exc is not None else None
        if value:
            error[key] = value
    return {"error": error}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "SonicVision"

    def setup(self) -> None:
        self.timeout = self.server.idle_s  # StreamRequestHandler sets it on the socket
        if isinstance(self.request, ssl.SSLSocket):  # handshake here, not in the accept loop
            self.request.settimeout(min(TLS_HANDSHAKE_S, self.server.idle_s))
            self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _send(self, status: int, payload: dict | bytes, headers: dict | None = None) -> None:
        if isinstance(payload, bytes):
            body, kind = payload, "application/octet-stream"
        else:
            body, kind = json.dumps(payload).encode(), "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _check_request(self, name: str) -> None:
        """Host (DNS rebinding), token, and a JSON content type on POST (no cross-site forms)."""
        config = self.server
        if config.loopback:
            host = (self.headers.get("Host") or "").strip()
            hostname = urlsplit(f"//{host}").hostname or ""
            if hostname.lower() not in LOOPBACK_NAMES:
                raise HttpRefusal(403, "PERMISSION_DENIED", f"Host {host!r} is not this machine")
        if config.token_header and name not in JobsHttp.OPEN:
            given = self.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), config.token_header):
                reason = "missing" if not given else "wrong"
                config.refusals.note(self.path.split("?")[0][:100], reason)
                raise HttpRefusal(
                    401,
                    "UNAUTHENTICATED",
                    f"{reason} token: send 'Authorization: Bearer <token>'",
                    {"WWW-Authenticate": "Bearer"},
                )
        if self.command == "POST":
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if kind != "application/json":
                raise HttpRefusal(
                    415, "INVALID_ARGUMENT", "send the request with Content-Type: application/json"
                )

    def _body_size(self) -> int:
        if self.command != "POST":
            return 0
        length = self.headers.get("Content-Length")
        if length is None:
            if self.headers.get("Transfer-Encoding"):
                raise HttpRefusal(411, "INVALID_ARGUMENT", "send a Content-Length, not chunks")
            return 0
        try:
            size = int(length)
        except ValueError:
            raise HttpRefusal(400, "INVALID_ARGUMENT", "Content-Length is not a number") from None
        if size < 0 or size > self.server.max_body:
            raise HttpRefusal(
                413,
                "RESOURCE_EXHAUSTED",
                f"request body of {size} bytes is over the limit of {self.server.max_body}",
            )
        return size

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        api = self.server.api
        try:
            name, args = api.route(method, parts.path)
            self._check_request(name)
            size = self._body_size()
            with api.servicer.uploads.reserve(size):  # taken in whole: the budget counts it
                body = self.rfile.read(size) if size else b""
                status, payload = getattr(api, name)(body, parse_qs(parts.query), *args)
            self._send(status, payload)
        except HttpRefusal as exc:
            self.close_connection = True
            self._send(exc.status, error_body(exc.code, exc.message), exc.headers)
        except Exception as exc:
            self.close_connection = True  # the body may be unread (a refused upload)
            code = status_for(exc)
            if not is_expected(exc):
                logger.exception("unexpected error in %s %s", method, parts.path, exc_info=exc)
            self._send(HTTP_STATUS[code], error_body(code.name, message_for(exc), exc))


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a long poll must not hold the server open at shutdown

    def __init__(
        self,
        address,
        api: JobsHttp,
        *,
        token: str | None,
        loopback: bool,
        idle_s: float = IDLE_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        host = address[0]
        self.idle_s = idle_s
        self._slots = threading.BoundedSemaphore(max_connections)
        self._refused = RateLimitedLog(logger, "HTTP connections refused: %d open already")
        self.refusals = RateLimitedLog(logger, "refused HTTP %s: %s token")
        self._max_connections = max_connections
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__(address, _Handler)
        self.api = api
        self.loopback = loopback
        self.token_header = f"Bearer {token}".encode() if token else b""
        self.max_body = api.servicer.jobs.max_upload * 4 // 3 + 4 + HEADROOM

    def process_request(self, request, client_address) -> None:
        """A thread per connection, up to the cap; beyond it the connection is closed at once."""
        if not self._slots.acquire(blocking=False):
            self._refused.note(self._max_connections)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up or fails the TLS handshake is its own problem: no traceback."""
        logger.debug("HTTP connection from %s failed", client_address, exc_info=True)


@contextmanager
def serve_http(
    servicer: JobsServicer,
    host: str = "127.0.0.1",
    port: int = DEFAULT_HTTP_PORT,
    *,
    token: str | None = None,
    tls_cert: str | Path | None = None,
    tls_key: str | Path | None = None,
    idle_s: float = IDLE_S,
    max_connections: int = MAX_CONNECTIONS,
) -> Iterator[int]:
    """Serve the HTTP/JSON face of ``servicer`` on ``host:port``; yields the bound port."""
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("TLS needs both a certificate and its key", field="tls-cert")
    check_bind(host, tls=tls_cert is not None, token=token)
    try:
        server = _Server(
            (host.strip("[]"), port),
            JobsHttp(servicer),
            token=token,
            loopback=is_loopback(host),
            idle_s=idle_s,
            max_connections=max_connections,
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot listen for HTTP on {host}:{port}: {exc.strerror}", field="http-port"
        ) from None
    try:
        if tls_cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                context.load_cert_chain(str(tls_cert), str(tls_key))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"cannot load the TLS certificate: {exc}", path=tls_cert
                ) from None
            server.socket = context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="sonicvision-http",
            daemon=True,
        )
        thread.start()
        bound = server.server_address[1]
        logger.info("HTTP/JSON on %s:%d (%s)", host, bound, "TLS" if tls_cert else "plaintext")
        try:
            yield bound
        finally:
            server.shutdown()
            thread.join(5)
    finally:
        server.server_close()


__all__ = ["DEFAULT_HTTP_PORT", "HTTP_STATUS", "JobsHttp", "serve_http", "to_json"]
