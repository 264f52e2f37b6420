"""Assemble and run the server: store, job manager, servicer, health, reflection, security.

``with run_server(port=0, data_dir=d) as port:`` serves until the block ends, then stops in
order: health goes NOT_SERVING, a running job stops at its next shot or stage, open streams
get a short grace, the store closes. One server per data folder (a lock file says so).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Iterator, Sequence
from concurrent import futures
from contextlib import ExitStack, contextmanager
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from sonicvision.errors import ConfigError

from .backends import DEFAULT_BUDGET, BackendTable
from .http import IDLE_S as HTTP_IDLE_S
from .http import MAX_CONNECTIONS as HTTP_MAX_CONNECTIONS
from .jobs import DEFAULT_MAX_QUEUE, DEFAULT_MAX_UPLOAD, JobManager
from .security import StrictDecoding, TokenAuth, check_bind
from .servicer import SERVICE_NAME, JobsServicer, add_to_server
from .spec import Runner, run_pipeline
from .store import JobStore

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one server per folder is on the user
    fcntl = None

logger = logging.getLogger(__name__)

DEFAULT_PORT = 50051
HEADROOM = 1024 * 1024  # room for the rest of a SubmitJob beside the uploaded timeline


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "sonicvision" / "server"


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


class BoundPorts(int):
    """The gRPC port, an ``int`` as before, with the HTTP/JSON face's port beside it."""

    http_port: int | None

    def __new__(cls, port: int, http_port: int | None = None) -> BoundPorts:
        bound = super().__new__(cls, port)
        bound.http_port = http_port
        return bound


def check_port(port: int, field: str) -> None:
    if not 0 <= port <= 65535:
        raise ConfigError(f"port {port} is not in 0..65535 (0: any free port)", field=field)


def check_tls_files(cert: str | Path, key: str | Path) -> None:
    """Load the pair once with Python's ssl, so a bad file is named as such, not 'cannot bind'."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(cert), str(key))
    except FileNotFoundError as exc:
        raise ConfigError("TLS certificate or key file not found", path=exc.filename) from None
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"TLS certificate or key is not usable (PEM certificate chain and its private key "
            f"expected): {exc}",
            path=cert,
            field="tls-cert",
        ) from None


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what}: {exc.strerror}", path=path) from None


@contextmanager
def _data_lock(data_dir: Path) -> Iterator[None]:
    """An exclusive lock on the data folder; the OS drops it even on kill -9."""
    if fcntl is None:
        yield
        return
    with open(data_dir / "server.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                "another SonicVision server is using this data folder", path=data_dir
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _warm_up(backends: BackendTable, jobs: JobManager, probe: health.HealthServicer) -> None:
    try:
        backends.warm_up()
    except Exception:
        logger.exception("loading the default backends failed; jobs will report why")
    else:
        for name in ("", SERVICE_NAME):
            probe.set(name, health_pb2.HealthCheckResponse.SERVING)
    jobs.set_ready()


@contextmanager
def run_server(
    host: str = "127.0.0.1",
    port: int = 0,
    data_dir: str | Path | None = None,
    *,
    media_roots: Sequence[str | Path] = (),
    token: str | None = None,
    tls_cert: str | Path | None = None,
    tls_key: str | Path | None = None,
    max_queue: int = DEFAULT_MAX_QUEUE,
    max_upload: int = DEFAULT_MAX_UPLOAD,
    max_workers: int = 32,
    runner: Runner = run_pipeline,
    grace_s: float = 2.0,
    http_port: int | None = None,
    max_streams: int | None = None,
    http_idle_s: float = HTTP_IDLE_S,
    http_max_connections: int = HTTP_MAX_CONNECTIONS,
    keep_days: float | None = None,
    max_results_bytes: int | None = None,
    backend_budget: int = DEFAULT_BUDGET,
    upload_budget: int | None = None,
) -> Iterator[int]:
    """Serve the Jobs API on ``host:port`` (0: any free port); yields the bound port.

    With ``http_port`` the same jobs are also served as HTTP/JSON (``http.py``) on that port
    of the same host, under the same token and TLS; the yielded port's ``http_port`` says where.
    At most ``max_streams`` (default: half the RPC threads) watch or fetch streams are open at
    once, so unary calls and health checks always find a thread.
    """
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("TLS needs both a certificate and its key", field="tls-cert")
    check_port(port, "port")
    if http_port is not None:
        check_port(http_port, "http-port")
    check_bind(host, tls=tls_cert is not None, token=token)
    if tls_cert is not None:
        check_tls_files(tls_cert, tls_key)
    if not media_roots:
        logger.warning(
            "no --media-root: this server reads no media, so every job that needs pictures "
            "is refused; give the folders it may read with --media-root DIR"
        )
    if max_upload < 1:
        raise ConfigError("the upload limit must be positive", field="max-upload")
    data = Path(data_dir) if data_dir is not None else default_data_dir()
    data.mkdir(parents=True, exist_ok=True, mode=0o700)  # results are the editor's material
    with ExitStack() as stack:
        stack.enter_context(_data_lock(data))
        store = JobStore(data / "jobs.sqlite3")
        stack.callback(store.close)
        backends = BackendTable(budget_bytes=backend_budget, data_dir=data)
        jobs = JobManager(
            store,
            data,
            media_roots,
            max_queue=max_queue,
            max_upload=max_upload,
            runner=runner,
            keep_days=keep_days,
            max_results_bytes=max_results_bytes,
            backends=backends,
        )
        probe = health.HealthServicer()
        for name in ("", SERVICE_NAME):
            probe.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        interceptors: list[grpc.ServerInterceptor] = [StrictDecoding()]
        if token:
            interceptors.insert(0, TokenAuth(token))
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="sv-rpc"),
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", max_upload + HEADROOM),
                ("grpc.so_reuseport", 0),  # a second server on the same port must fail
            ],
        )
        streams = max_streams if max_streams is not None else max(1, max_workers // 2)
        servicer = JobsServicer(
            jobs,
            backends,
            max_streams=min(streams, max_workers - 1) or 1,
            upload_budget=upload_budget,
        )
        add_to_server(servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(probe, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        address = format_address(host, port)
        try:
            if tls_cert is not None:
                creds = grpc.ssl_server_credentials(
                    [(_read(tls_key, "TLS key"), _read(tls_cert, "TLS certificate"))]
                )
                bound = server.add_secure_port(address, creds)
            else:
                bound = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise ConfigError(f"cannot listen on {address}: {exc}", field="port") from None
        if not bound:
            raise ConfigError(f"cannot listen on {address}", field="port")
        jobs.start()
        try:
            server.start()
        except BaseException:
            jobs.stop()
            raise

        def shutdown() -> None:
            probe.enter_graceful_shutdown()
            jobs.stop()  # first, so that watchers see their job's last event
            server.stop(grace_s).wait()

        stack.callback(shutdown)
        http_bound = None
        if http_port is not None:
            from .http import serve_http

            http_bound = stack.enter_context(
                serve_http(
                    servicer,
                    host,
                    http_port,
                    token=token,
                    tls_cert=tls_cert,
                    tls_key=tls_key,
                    idle_s=http_idle_s,
                    max_connections=http_max_connections,
                )
            )
        threading.Thread(
            target=_warm_up, args=(backends, jobs, probe), name="sonicvision-warmup", daemon=True
        ).start()
        logger.info(
            "listening on %s (%s, data %s)",
            format_address(host, bound),
            "TLS" if tls_cert else "plaintext",
            data,
        )
        yield BoundPorts(bound, http_bound)
