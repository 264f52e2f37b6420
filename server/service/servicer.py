"""The Jobs service: request messages in, JobManager calls, response messages out.

Nothing here decides anything: enum values and field shapes are checked while translating,
everything else is the manager's; errors become statuses in ``errors.py``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import opentimelineio as otio
from google.protobuf.timestamp_pb2 import Timestamp

from sonicvision.server.options import MAX_SEED
from sonicvision.v1 import jobs_pb2 as pb
from sonicvision.v1 import jobs_pb2_grpc

from .backends import BackendTable
from .errors import InvalidRequest, QueueFull, ResultDamaged, grpc_method
from .jobs import JobManager
from .security import MAX_PATH, check_file_name
from .spec import JobSpec
from .store import ErrorInfo, EventRecord, FileRecord, JobRecord, State
from .wire import (
    BACKEND_KINDS,
    PASS_NAMES,
    PASS_VALUES,
    enum_value,
    options_from_message,
)

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
MAX_PAGE = 1000
MAX_KEY = 200
MAX_SPEC = 2048  # a backend spec: name, folder, options
MAX_ITEMS = 64  # entries of a repeated field
PAGE_TOKEN = re.compile(r"[0-9]{1,18}")

STATE_VALUES = {
    State.QUEUED: pb.JOB_STATE_QUEUED,
    State.RUNNING: pb.JOB_STATE_RUNNING,
    State.SUCCEEDED: pb.JOB_STATE_SUCCEEDED,
    State.FAILED: pb.JOB_STATE_FAILED,
    State.CANCELLED: pb.JOB_STATE_CANCELLED,
}
STATE_NAMES = {v: k for k, v in STATE_VALUES.items()}
ROLES = {"timeline": pb.FILE_ROLE_TIMELINE, "audio": pb.FILE_ROLE_AUDIO}


def _adapter_suffixes() -> dict[str, list[str]]:
    manifest = otio.adapters.plugins.ActiveManifest()
    return {a.name: list(a.suffixes) for a in manifest.adapters}


def upload_name(upload: pb.UploadedTimeline) -> str:
    """The stored file name: the client's name, with the suffix its ``format`` implies."""
    name = upload.filename or "timeline"
    check_file_name(name, "upload.filename")
    if upload.format:
        suffixes = _adapter_suffixes()
        if upload.format not in suffixes:
            raise InvalidRequest(
                f"unknown timeline format {upload.format!r}; known: {', '.join(sorted(suffixes))}",
                field="upload.format",
            )
        if name.rsplit(".", 1)[-1].lower() not in suffixes[upload.format] or "." not in name:
            name = f"{name}.{suffixes[upload.format][0]}"
    elif "." not in name:
        raise InvalidRequest(
            "upload file name has no suffix; name the file (e.g. 'cut.otio') or set format",
            path=name,
            field="upload.filename",
        )
    return check_file_name(name, "upload.filename")


def _bounded(text: str, limit: int, field: str) -> None:
    if len(text) > limit:
        raise InvalidRequest(
            f"{field} is {len(text)} characters long, over the limit of {limit}", field=field
        )


def check_sizes(request: pb.SubmitJobRequest) -> None:
    """Every repeated or free-text field bounded before anything is stored (a stored job's spec
    is read back by every ListJobs)."""
    options = request.options
    for kind in ("detector", "describer", "generator"):
        _bounded(getattr(options, kind), MAX_SPEC, f"options.{kind}")
    rule = options.marker_rule
    for name, items, limit in (
        ("path_maps", options.path_maps, 2 * MAX_PATH + 1),
        ("media_roots", options.media_roots, MAX_PATH),
        ("marker_rule.colors", rule.colors, 32),
    ):
        if len(items) > MAX_ITEMS:
            raise InvalidRequest(
                f"options.{name} has {len(items)} entries, over the limit of {MAX_ITEMS}",
                field=f"options.{name}",
            )
        for item in items:
            _bounded(item, limit, f"options.{name}")
    _bounded(rule.prefix, 64, "options.marker_rule.prefix")
    _bounded(options.rate, 32, "options.rate")
    _bounded(request.server_path, MAX_PATH, "server_path")
    _bounded(request.upload.format, 32, "upload.format")
    if not 0 <= options.seed <= MAX_SEED:
        raise InvalidRequest(f"seed {options.seed} is not in 0..{MAX_SEED}", field="options.seed")


def spec_from_request(request: pb.SubmitJobRequest) -> tuple[JobSpec, bytes | None]:
    check_sizes(request)
    kind = request.WhichOneof("timeline")
    if kind is None:
        raise InvalidRequest("no timeline: set upload or server_path", field="timeline")
    upload = request.upload.content if kind == "upload" else None
    if kind == "upload" and not upload:
        raise InvalidRequest("uploaded timeline is empty", field="upload.content")
    options, output_format = options_from_message(request.options)
    spec = JobSpec(
        job_pass=enum_value(request.job_pass, PASS_NAMES, "Pass", "job_pass"),
        timeline_name=upload_name(request.upload) if kind == "upload" else "",
        server_path=request.server_path if kind == "server_path" else "",
        output_format=output_format,
        options=options,
    )
    return spec, upload


def _time(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def _error(info: ErrorInfo | None) -> pb.JobError | None:
    return pb.JobError(**info.__dict__) if info else None


def job_message(job: JobRecord, queue_position: int = 0) -> pb.Job:
    p = job.progress
    return pb.Job(
        job_id=job.id,
        state=STATE_VALUES[job.state],
        job_pass=PASS_VALUES[job.job_pass],
        timeline_name=job.timeline_name,
        created_at=_time(job.created),
        started_at=_time(job.started),
        finished_at=_time(job.finished),
        stage=p.stage,
        done=p.done,
        total=p.total,
        events_found=p.events_found,
        clips_rendered=p.clips_rendered,
        warnings=job.warnings,
        error=_error(job.error),
        result=pb.ResultSummary(**job.summary) if job.summary else None,
        queue_position=queue_position,
        cancel_requested=job.cancel_requested,
        idempotency_key=job.idempotency_key or "",
    )


def event_message(event: EventRecord) -> pb.JobEvent:
    p = event.progress
    return pb.JobEvent(
        job_id=event.job_id,
        seq=event.seq,
        time=_time(event.time),
        state=STATE_VALUES[event.state],
        stage=p.stage,
        done=p.done,
        total=p.total,
        events_found=p.events_found,
        clips_rendered=p.clips_rendered,
        warning=event.warning,
        error=_error(event.error),
        final=event.final,
    )


def _file_chunks(record: FileRecord) -> Iterator[pb.ResultChunk]:
    """A stored file in chunks, checked against the size and checksum recorded at the end."""
    digest, sent = hashlib.sha256(), 0
    try:
        with open(record.path, "rb") as fh:
            while chunk := fh.read(CHUNK_BYTES):
                digest.update(chunk)
                sent += len(chunk)
                yield pb.ResultChunk(data=chunk)
    except OSError as exc:
        raise ResultDamaged(f"result file unreadable: {exc.strerror}", path=record.name) from None
    if sent != record.size or digest.hexdigest() != record.sha256:
        raise ResultDamaged("result file changed since the job finished", path=record.name)


def _intact(record: FileRecord) -> bool:
    try:
        return os.stat(record.path).st_size == record.size
    except OSError:
        return False


class ByteBudget:
    """Bytes of uploads being taken in at once, across all requests and both faces (M9)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    @contextmanager
    def reserve(self, size: int) -> Iterator[None]:
        with self._lock:
            if size and self._used + size > self.limit:
                raise QueueFull(
                    f"the server is taking in {self._used} bytes of other uploads (limit "
                    f"{self.limit}); retry shortly"
                )
            self._used += size
        try:
            yield
        finally:
            with self._lock:
                self._used -= size


class JobsServicer(jobs_pb2_grpc.JobsServicer):
    def __init__(
        self,
        jobs: JobManager,
        backends: BackendTable,
        max_streams: int = 16,
        upload_budget: int | None = None,
    ) -> None:
        self.jobs = jobs
        self.backends = backends
        self.uploads = ByteBudget(upload_budget or 2 * jobs.max_upload)
        self.max_streams = max_streams
        self._streams = threading.BoundedSemaphore(max_streams)

    @contextmanager
    def _stream_slot(self, context) -> Iterator[None]:
        """A gRPC stream holds a pool thread while open: at most ``max_streams`` at once, so
        unary calls and health always find one. (The HTTP face bounds its own connections.)"""
        if isinstance(context, _HttpContext):
            yield
            return
        if not self._streams.acquire(blocking=False):
            raise QueueFull(
                f"the server has {self.max_streams} streams open already; retry shortly"
            )
        try:
            yield
        finally:
            self._streams.release()

    def _job(self, job: JobRecord) -> pb.Job:
        position = self.jobs.queue_position(job.id) if job.state == State.QUEUED else 0
        return job_message(job, position)

    @grpc_method
    def SubmitJob(self, request: pb.SubmitJobRequest, context) -> pb.SubmitJobResponse:
        if len(request.idempotency_key) > MAX_KEY:
            raise InvalidRequest(
                f"idempotency key is longer than {MAX_KEY} characters", field="idempotency_key"
            )
        spec, upload = spec_from_request(request)
        held = 0 if isinstance(context, _HttpContext) else len(upload or b"")  # HTTP reserved it
        with self.uploads.reserve(held):
            job, created = self.jobs.submit(spec, upload, request.idempotency_key)
        return pb.SubmitJobResponse(job_id=job.id, created=created, job=self._job(job))

    @grpc_method
    def WatchJob(self, request: pb.WatchJobRequest, context) -> Iterator[pb.JobEvent]:
        if request.after_seq < 0:
            raise InvalidRequest("after_seq must not be negative", field="after_seq")
        with self._stream_slot(context):
            context.add_callback(self.jobs.wake)  # a client that leaves wakes its watcher
            for event in self.jobs.watch(request.job_id, request.after_seq, context.is_active):
                yield event_message(event)

    @grpc_method
    def GetJob(self, request: pb.GetJobRequest, context) -> pb.Job:
        return self._job(self.jobs.get(request.job_id))

    @grpc_method
    def ListJobs(self, request: pb.ListJobsRequest, context) -> pb.ListJobsResponse:
        states = [enum_value(s, STATE_NAMES, "JobState", "states") for s in request.states]
        if request.page_size < 0:
            raise InvalidRequest("page_size must not be negative", field="page_size")
        size = min(request.page_size or 50, MAX_PAGE)
        before = None
        if request.page_token:
            if not PAGE_TOKEN.fullmatch(request.page_token):
                raise InvalidRequest("page_token is not one this server gave", field="page_token")
            before = int(request.page_token)
        jobs = self.jobs.list(states, size + 1, before)
        more = len(jobs) > size
        jobs = jobs[:size]
        return pb.ListJobsResponse(
            jobs=[self._job(j) for j in jobs],
            next_page_token=str(jobs[-1].rowid) if more else "",
        )

    @grpc_method
    def CancelJob(self, request: pb.CancelJobRequest, context) -> pb.Job:
        return self._job(self.jobs.cancel(request.job_id))

    @grpc_method
    def FetchResult(self, request: pb.FetchResultRequest, context) -> Iterator[pb.ResultChunk]:
        mode = enum_value(
            request.mode,
            {
                pb.FETCH_MODE_UNSPECIFIED: "bytes",
                pb.FETCH_MODE_BYTES: "bytes",
                pb.FETCH_MODE_PATHS: "paths",
            },
            "FetchMode",
            "mode",
        )
        with self._stream_slot(context):
            yield from self._fetch(request.job_id, mode)

    def _fetch(self, job_id: str, mode: str) -> Iterator[pb.ResultChunk]:
        for record in self.jobs.files(job_id):
            yield pb.ResultChunk(
                file=pb.ResultFile(
                    role=ROLES[record.role],
                    name=record.name,
                    size=record.size,
                    sha256=record.sha256,
                    server_path=record.path if mode == "paths" else "",
                    timeline_url=record.timeline_url,
                )
            )
            if mode == "bytes":
                yield from _file_chunks(record)
            elif not _intact(record):
                raise ResultDamaged("result file is missing or changed size", path=record.name)

    @grpc_method
    def ListBackends(self, request: pb.ListBackendsRequest, context) -> pb.ListBackendsResponse:
        return pb.ListBackendsResponse(
            backends=[
                pb.Backend(
                    kind=BACKEND_KINDS.get(row.kind, pb.BACKEND_KIND_UNSPECIFIED),
                    name=row.name,
                    available=row.available,
                    loaded=row.loaded,
                    device=row.device,
                    description=row.description,
                )
                for row in self.backends.rows()
            ]
        )


class _HttpContext:
    """Marks a call from the HTTP face (``http.py``), which bounds its own bodies and threads."""


def add_to_server(servicer: JobsServicer, server: grpc.Server) -> None:
    jobs_pb2_grpc.add_JobsServicer_to_server(servicer, server)


SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Jobs"].full_name
