"""``foley|analyze|render ... --server HOST:PORT``: the same job, run by a SonicVision server.

The timeline is uploaded (or, when a ``--path-map`` rule maps its path, named by its path on
the server), progress comes from the job's event stream into the same bars a local run shows,
and the result lands where a local run writes it: the timeline at ``-o OUT`` and the WAVs in
``OUT_audio/`` (or ``--audio-dir``), the timeline relinked to them. A dropped connection is
resumed from the last event seen; a submit is retried under one idempotency key, so a retry
never starts a second job.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import grpc

from sonicvision.errors import SonicVisionError

logger = logging.getLogger(__name__)

RETRY = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
OUTPUT_FORMATS = {".xml": "fcp_xml", ".otio": "otio"}


def remote_options(p) -> None:
    """The options a job command takes to run on a server instead of here."""
    from .service import _token_options

    p.add_argument(
        "--server",
        metavar="HOST:PORT",
        help="run the job on this SonicVision server (upload, watch, fetch) instead of here",
    )
    _token_options(p)
    p.add_argument("--tls-ca", type=Path, metavar="FILE", help="CA certificate: connect with TLS")
    p.add_argument(
        "--reconnect-s",
        type=float,
        default=120.0,
        metavar="S",
        help="with --server: how long to keep trying a lost connection (default: %(default)s)",
    )


def connect(args):
    from sonicvision.server.service.client import SonicVisionClient

    from .service import _token

    return SonicVisionClient(args.server, token=_token(args), tls_ca=args.tls_ca, timeout=30)


def retrying(call: Callable, window_s: float, what: str):
    """``call()`` again while the server is unreachable, for up to ``window_s`` seconds."""
    from sonicvision.server.service.errors import RemoteError

    deadline, pause = time.monotonic() + window_s, 0.2
    while True:
        try:
            return call()
        except RemoteError as exc:
            if exc.code not in RETRY or time.monotonic() > deadline:
                raise
            logger.warning("%s: server unreachable (%s); retrying", what, exc.code.name)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def _server_path(timeline: Path, rules: list[str]) -> str | None:
    from sonicvision.adapters.media import PathMapping

    text = str(timeline.resolve())
    for rule in rules:
        if mapped := PathMapping.parse(rule).apply(text):
            return str(mapped)
    return None


def submit(args, client, job_pass: str, options_message, key: str = ""):
    """Upload the timeline (or name its mapped server path); returns the SubmitJobResponse."""
    key = key or secrets.token_hex(16)
    server_path = _server_path(args.timeline, args.path_map)
    if server_path is None:
        from sonicvision.adapters.io import adapter_for
        from sonicvision.adapters.untrusted import check_timeline_file

        if not args.timeline.exists():
            raise SonicVisionError("timeline file does not exist", path=args.timeline)
        check_timeline_file(args.timeline, adapter_for(args.timeline))
        content = args.timeline.read_bytes()
        kwargs = {"content": content, "filename": args.timeline.name}
    else:
        kwargs = {"server_path": server_path}
    return retrying(
        lambda: client.submit(
            job_pass=job_pass, options=options_message, idempotency_key=key, **kwargs
        ),
        args.reconnect_s,
        "submit",
    )


def follow(client, job_id: str, progress, window_s: float, warn=None):
    """Events until the final one, resumed after ``seq`` when the connection drops."""
    from sonicvision.server.service.client import FINAL_STATES
    from sonicvision.server.service.errors import RemoteError

    last, final = 0, None
    lost_since = None
    while final is None:
        try:
            for event in client.watch(job_id, after_seq=last):
                lost_since = None
                last = event.seq
                if event.stage and event.stage != "done":
                    progress(event.stage, event.done, event.total)
                if event.warning and warn is not None:
                    warn(event.warning)
                if event.final:
                    final = event
                    break
            else:
                job = client.get(job_id)
                if job.state in FINAL_STATES:  # ended before a final event reached us
                    return job
        except RemoteError as exc:
            now = time.monotonic()
            lost_since = lost_since or now
            if exc.code not in RETRY or now - lost_since > window_s:
                raise
            time.sleep(min(0.2 * 2 ** min(int(now - lost_since), 4), 2.0))
    return retrying(lambda: client.get(job_id), window_s, "get")


def place_result(files, staging: Path, output: Path, audio_dir: Path, inputs: list[Path]):
    """The fetched files where a local run writes them: the timeline at ``output``, each WAV
    in ``audio_dir`` under its own name, the timeline relinked to them. Nothing replaced."""
    import opentimelineio as otio

    from sonicvision.adapters.errors import TimelineWriteError
    from sonicvision.adapters.io import check_output_path, read_timeline, write_timeline
    from sonicvision.v1 import jobs_pb2 as pb

    check_output_path(output, inputs=inputs)
    moves = []
    for f in files:
        if f.role == pb.FILE_ROLE_AUDIO:
            rest = PurePosixPath(f.name).parts[1:] or (PurePosixPath(f.name).name,)
            target = audio_dir.joinpath(*rest)
            if target.exists() or target.is_symlink():
                raise TimelineWriteError("already exists; never overwritten", path=target)
            moves.append((f, staging / f.name, target))
    timeline_file = next(f for f in files if f.role == pb.FILE_ROLE_TIMELINE)
    placed: list[Path] = []
    try:
        urls = {}
        for f, source, target in moves:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(source, target)
            placed.append(target)
            if f.timeline_url:
                urls[f.timeline_url] = target.resolve().as_uri()
        timeline = read_timeline(staging / timeline_file.name)
        for clip in timeline.find_clips():
            ref = clip.media_reference
            if isinstance(ref, otio.schema.ExternalReference) and ref.target_url in urls:
                ref.target_url = urls[ref.target_url]
        written = write_timeline(timeline, output, inputs=inputs)
    except BaseException:
        for path in placed:
            path.unlink(missing_ok=True)
        raise
    return written, placed


def run_remote(args, job_pass: str, options, report: Callable[[dict], int]) -> int:
    """The whole remote job: submit, follow, fetch, place; ``report`` prints the summary."""
    from sonicvision.adapters.io import check_output_path
    from sonicvision.server.pipeline import default_audio_dir
    from sonicvision.server.service.client import receive
    from sonicvision.server.service.wire import options_message, state_name
    from sonicvision.v1 import jobs_pb2 as pb

    from .progress import ProgressBars

    output = check_output_path(args.output, inputs=[args.timeline])  # refuse before uploading
    audio_dir = options.audio_dir or default_audio_dir(output)
    fmt = OUTPUT_FORMATS.get(output.suffix.lower(), "otio")
    options.audio_dir = None  # where the server writes is the server's business
    bars = ProgressBars(enabled=not args.json and sys.stderr.isatty())
    with connect(args) as client:
        reply = submit(args, client, job_pass, options_message(options, fmt))
        job_id = reply.job_id
        logger.info("job %s on %s", job_id, args.server)

        def warn(text: str) -> None:
            print(f"sonicvision {job_pass}: warning: {text}", file=sys.stderr)

        try:
            job = follow(client, job_id, bars, args.reconnect_s, warn)
        except KeyboardInterrupt:
            print(
                f"sonicvision {job_pass}: stopped watching; job {job_id} goes on on the server "
                f"(sonicvision jobs cancel {job_id} --server {args.server})",
                file=sys.stderr,
            )
            raise
        finally:
            bars.close()
        if job.state != pb.JOB_STATE_SUCCEEDED:
            error = job.error
            raise SonicVisionError(
                f"job {job_id} {state_name(job.state)} on {args.server}: {error.code}: "
                f"{error.message}",
                path=error.path or None,
                clip=error.clip or None,
                field=error.field or None,
            )
        output.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".sonicvision-fetch-", dir=output.parent))
        try:
            files = retrying(
                lambda: receive(client, job_id, _fresh(staging)), args.reconnect_s, "fetch"
            )
            written, audio = place_result(files, staging, output, audio_dir, [args.timeline])
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    r = job.result
    summary = {
        "output": str(written),
        "job_id": job_id,
        "shots": r.shots,
        "events": r.events,
        "onscreen": r.onscreen,
        "offscreen": r.offscreen,
        "clips": r.clips,
        "audio_seconds": round(r.audio_seconds, 3),
        "seconds": round(r.seconds, 3),
        "notes": list(job.warnings),
        "clips_list": [str(p) for p in audio],
    }
    return report(summary)


def _fresh(folder: Path) -> Path:
    """An empty staging folder for one fetch attempt (a retried fetch starts over)."""
    for child in folder.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    return folder
