"""``sonicvision serve`` and ``sonicvision jobs``: thin wiring from options to the service.

``serve`` runs the gRPC server until SIGINT/SIGTERM; ``jobs`` lists, shows, cancels and
fetches jobs on a server through ``SonicVisionClient``. Both print JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from sonicvision.errors import ConfigError

logger = logging.getLogger(__name__)

SERVE_HELP = "run the gRPC inference server (jobs, health, reflection)"
JOBS_HELP = "list, show, cancel or fetch jobs on a SonicVision server"
TOKEN_ENV = "SONICVISION_TOKEN"
SERVER_ENV = "SONICVISION_SERVER"


def _token_options(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--token", help=f"bearer token (else ${TOKEN_ENV})")
    group.add_argument("--token-file", type=Path, metavar="FILE", help="read the token from FILE")


def _token(args) -> str | None:
    if args.token_file is not None:
        try:
            text = args.token_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the token file: {exc.strerror}", path=args.token_file
            ) from None
        if not text:
            raise ConfigError("token file is empty", path=args.token_file)
        return text
    return args.token or os.environ.get(TOKEN_ENV) or None


def serve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default loopback; any other needs --tls-cert/--tls-key and a token)",
    )
    p.add_argument("--port", type=int, default=50051, help="port (0: any free port, printed)")
    p.add_argument(
        "--http-port",
        type=int,
        metavar="PORT",
        help="also serve the jobs as HTTP/JSON on this port, for Premiere's panel "
        "(50052 is the panel's default; 0: any free port, printed)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        help="jobs, events and results (default: ~/.local/share/sonicvision/server)",
    )
    p.add_argument(
        "--media-root",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="folder the server may read media and timelines from (repeatable)",
    )
    _token_options(p)
    p.add_argument("--tls-cert", type=Path, metavar="FILE", help="PEM certificate chain")
    p.add_argument("--tls-key", type=Path, metavar="FILE", help="PEM private key")
    p.add_argument("--max-queue", type=int, default=16, help="waiting jobs before refusing more")
    p.add_argument("--max-upload-mb", type=int, default=256, help="largest timeline upload, in MiB")
    p.add_argument(
        "--keep-days",
        type=float,
        default=30.0,
        metavar="DAYS",
        help="delete finished jobs and their results after this many days (default: %(default)s)",
    )
    p.add_argument(
        "--max-results-gb",
        type=float,
        default=100.0,
        metavar="GB",
        help="beyond this many GB of results the oldest finished jobs go (default: %(default)s)",
    )
    p.add_argument(
        "--models-gb",
        type=float,
        default=24.0,
        metavar="GB",
        help="weights kept warm between jobs; the least recently used go first (default: "
        "%(default)s)",
    )
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="where jobs run: this process, or on a Ray cluster (pip install "
        "'sonicvision[cluster]'): one Ray task per clip, sounds on render actors "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="--engine ray: the cluster to join (auto, HOST:6379, ray://HOST:10001); "
        "default: start Ray on this machine",
    )
    p.add_argument(
        "--render-actors",
        type=int,
        metavar="N",
        help="--engine ray: render actors that keep the generator warm; default: one per GPU "
        "of the cluster, or 1 (a CPU process) where it has none; 0 renders in this process",
    )
    p.add_argument(
        "--ray-cpus",
        type=int,
        metavar="N",
        help="--engine ray without --ray-address: the CPUs the Ray started here may use "
        "(default: all of them)",
    )
    p.add_argument(
        "--ray-object-store-mb",
        type=int,
        metavar="MB",
        help="--engine ray without --ray-address: its object store's size (default: Ray's, "
        "about 30%% of memory)",
    )
    p.add_argument("--json", action="store_true", help="print the bound address as JSON")


def cmd_serve(args) -> int:
    from sonicvision.server.service.app import format_address, run_server
    from sonicvision.server.service.engine import make_engine

    # a bad engine or actor count: refused before serving
    engine = make_engine(
        args.engine, args.ray_address, args.render_actors, args.ray_cpus, args.ray_object_store_mb
    )
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        cluster = engine.describe()
        logger.info("engine: %s", cluster)
        with run_server(
            args.host,
            args.port,
            args.data_dir,
            media_roots=args.media_root,
            token=_token(args),
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            max_queue=args.max_queue,
            max_upload=args.max_upload_mb * 1024 * 1024,
            http_port=args.http_port,
            keep_days=args.keep_days,
            max_results_bytes=int(args.max_results_gb * 1e9),
            backend_budget=int(args.models_gb * 1e9),
            runner=engine.runner(),
        ) as port:
            address = format_address(args.host, port)
            http = port.http_port
            if args.json:
                report = {"address": address, "port": int(port)}
                if http is not None:
                    report["http_port"] = http
                report["engine"] = cluster
                print(json.dumps(report), flush=True)
            else:
                print(f"sonicvision serve: listening on {address}", flush=True)
                if args.engine == "ray":
                    print(f"sonicvision serve: {_cluster_line(cluster)}", flush=True)
                if http is not None:
                    scheme = "https" if args.tls_cert else "http"
                    where = format_address(args.host, http)
                    print(f"sonicvision serve: HTTP/JSON on {scheme}://{where}/v1/", flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        engine.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("sonicvision serve: stopped", file=sys.stderr)
    return 0


def _cluster_line(c: dict) -> str:
    actors = f"{c['render_actors']} render actor{'s' * (c['render_actors'] != 1)}"
    return (
        f"Ray at {c['address']}: {c['nodes']} node{'s' * (c['nodes'] != 1)}, {c['cpus']} CPUs, "
        f"{c['gpus']} GPUs; {actors} ({c['render_on'].upper()})"
    )


def jobs_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["submit", "list", "show", "cancel", "fetch"])
    p.add_argument(
        "job_id", nargs="?", help="the job (show, cancel, fetch); submit: the timeline file"
    )
    p.add_argument(
        "--pass",
        dest="job_pass",
        default="foley",
        choices=["foley", "analyze", "render"],
        help="submit: which pass the server runs (default: %(default)s)",
    )
    p.add_argument(
        "--path-map",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="submit: name the timeline (and media) by its path on the server",
    )
    p.add_argument("--wait", action="store_true", help="submit: wait until the job ends")
    p.add_argument("--reconnect-s", type=float, default=30.0, help=argparse.SUPPRESS)
    p.add_argument(
        "--server",
        default=os.environ.get(SERVER_ENV, "127.0.0.1:50051"),
        metavar="HOST:PORT",
        help=f"server address (default: ${SERVER_ENV} or 127.0.0.1:50051)",
    )
    _token_options(p)
    p.add_argument("--tls-ca", type=Path, metavar="FILE", help="CA certificate: connect with TLS")
    p.add_argument("--out", type=Path, metavar="DIR", help="fetch: folder to write the result to")
    p.add_argument(
        "--paths", action="store_true", help="fetch: print the files' paths on the server instead"
    )
    p.add_argument(
        "--state",
        action="append",
        default=[],
        choices=["queued", "running", "succeeded", "failed", "cancelled"],
        help="list: only jobs in this state (repeatable)",
    )
    p.add_argument("--limit", type=int, default=50, help="list: at most this many jobs")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the server")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")


def _job_dict(job) -> dict:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(job, preserving_proto_field_name=True)


def _job_line(job) -> str:
    from sonicvision.server.service.wire import state_name

    progress = f"{job.stage} {job.done}/{job.total}" if job.stage else ""
    return (
        f"{job.job_id}  {state_name(job.state):<9}  "
        f"{_pass_name(job.job_pass):<7}  {job.timeline_name}  {progress}"
    ).rstrip()


def _pass_name(value: int) -> str:
    from sonicvision.v1 import jobs_pb2 as pb

    return pb.Pass.Name(value).removeprefix("PASS_").lower()


def _show(job) -> None:
    from sonicvision.server.service.wire import state_name

    print(_job_line(job))
    if job.queue_position:
        print(f"  queue position {job.queue_position}")
    if job.HasField("result"):
        r = job.result
        print(
            f"  {r.shots} shots, {r.events} events ({r.onscreen} on-screen, "
            f"{r.offscreen} off-screen), {r.clips} clips, {r.audio_seconds:.1f} s of audio "
            f"in {r.seconds:.1f} s -> {r.timeline}"
        )
    if job.HasField("error"):
        print(f"  {state_name(job.state)}: {job.error.code}: {job.error.message}")
    for warning in job.warnings:
        print(f"  warning: {warning}")


def _submit(args, client) -> int:
    """Upload a timeline as a job with the server's default options; print the job."""
    from sonicvision.server.options import FoleyOptions
    from sonicvision.server.service.wire import options_message

    from .remote import follow, submit

    args.timeline = Path(args.job_id)
    options = options_message(FoleyOptions(path_maps=list(args.path_map)))
    job = submit(args, client, args.job_pass, options).job
    if args.wait:
        job = follow(client, job.job_id, lambda *_: None, args.reconnect_s)
    if args.json:
        print(json.dumps(_job_dict(job), indent=2))
    else:
        _show(job)
    return 0


def cmd_jobs(args) -> int:
    from sonicvision.server.service.client import SonicVisionClient

    if args.action != "list" and not args.job_id:
        what = "a timeline file" if args.action == "submit" else "a job id"
        raise ConfigError(f"'jobs {args.action}' needs {what}", field="job_id")
    with SonicVisionClient(
        args.server, token=_token(args), tls_ca=args.tls_ca, timeout=args.timeout
    ) as client:
        if args.action == "submit":
            return _submit(args, client)
        if args.action == "list":
            jobs = client.list(args.state, limit=args.limit)
            if args.json:
                print(json.dumps([_job_dict(j) for j in jobs], indent=2))
            else:
                for job in jobs:
                    print(_job_line(job))
            return 0
        if args.action in ("show", "cancel"):
            job = client.get(args.job_id) if args.action == "show" else client.cancel(args.job_id)
            if args.json:
                print(json.dumps(_job_dict(job), indent=2))
            else:
                _show(job)
            return 0
        if not args.paths and args.out is None:
            raise ConfigError("'jobs fetch' needs --out DIR (or --paths)", field="out")
        result = client.fetch(args.job_id, args.out, paths=args.paths, timeout=args.timeout)
        report = {
            "timeline": str(result.timeline),
            "audio": [str(p) for p in result.audio],
            "on_server": result.on_server,
        }
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print(f"timeline {report['timeline']}")
            print(f"  {len(report['audio'])} audio files" + (" (on the server)" * args.paths))
        return 0
