"""A small client for the Jobs service: what the CLI, scripts and the Resolve plugin call.

Every failed call raises ``RemoteError`` (a SonicVisionError carrying the gRPC status), so
callers handle a refused request like any other SonicVision error. ``fetch`` writes the
result next to nothing it could overwrite and relinks the timeline to the fetched WAVs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import grpc
import opentimelineio as otio

from sonicvision.adapters.errors import TimelineWriteError
from sonicvision.adapters.io import read_timeline, write_timeline
from sonicvision.errors import SonicVisionError
from sonicvision.v1 import jobs_pb2 as pb
from sonicvision.v1 import jobs_pb2_grpc

from .errors import RemoteError
from .wire import PASS_VALUES

logger = logging.getLogger(__name__)

STATES = {
    "queued": pb.JOB_STATE_QUEUED,
    "running": pb.JOB_STATE_RUNNING,
    "succeeded": pb.JOB_STATE_SUCCEEDED,
    "failed": pb.JOB_STATE_FAILED,
    "cancelled": pb.JOB_STATE_CANCELLED,
}
FINAL_STATES = {pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED}


@dataclass
class FetchedResult:
    """Where a job's result is: local copies, or (``paths=True``) the files on the server."""

    timeline: Path
    audio: list[Path] = field(default_factory=list)
    on_server: bool = False


def _safe_name(name: str) -> PurePosixPath:
    """A result file name from the server: relative, no '..', so it cannot escape ``to_dir``."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or "\x00" in name:
        raise SonicVisionError("server sent an unsafe result file name", path=repr(name))
    return path


class SonicVisionClient:
    """One channel to one server; methods mirror the Jobs RPCs."""

    def __init__(
        self,
        address: str,
        token: str | None = None,
        tls_ca: str | Path | bytes | None = None,
        *,
        tls: bool = False,
        timeout: float = 30.0,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        if tls or tls_ca is not None:
            ca = Path(tls_ca).read_bytes() if isinstance(tls_ca, str | Path) else tls_ca
            creds = grpc.ssl_channel_credentials(root_certificates=ca)
            self._channel = grpc.secure_channel(address, creds)
        else:
            self._channel = grpc.insecure_channel(address)
        self._stub = jobs_pb2_grpc.JobsStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> SonicVisionClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _error(self, exc: grpc.RpcError) -> RemoteError:
        return RemoteError(exc.code(), exc.details() or "", self.address)

    def _unary(self, method, request, timeout: float | None = None):
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def _stream(self, method, request, timeout: float | None) -> Iterator:
        call = method(request, timeout=timeout, metadata=self._metadata)
        try:
            yield from call
        except grpc.RpcError as exc:
            raise self._error(exc) from None
        finally:
            call.cancel()  # a consumer that stops early must not leave the stream open

    # -- the RPCs ---------------------------------------------------------------------------

    def submit(
        self,
        timeline: str | Path | None = None,
        *,
        server_path: str | None = None,
        content: bytes | None = None,
        filename: str = "",
        format: str = "",
        job_pass: str = "foley",
        options: pb.FoleyOptions | None = None,
        idempotency_key: str = "",
        timeout: float | None = None,
    ) -> pb.SubmitJobResponse:
        """Upload ``timeline`` (or ``content``), or name a ``server_path``; returns the job."""
        request = pb.SubmitJobRequest(
            job_pass=PASS_VALUES[job_pass],
            options=options or pb.FoleyOptions(),
            idempotency_key=idempotency_key,
        )
        if server_path is not None:
            request.server_path = server_path
        else:
            if content is None:
                if timeline is None:
                    raise SonicVisionError("submit needs a timeline file, content or server path")
                content = Path(timeline).read_bytes()
                filename = filename or Path(timeline).name
            request.upload.CopyFrom(
                pb.UploadedTimeline(filename=filename, format=format, content=content)
            )
        return self._unary(self._stub.SubmitJob, request, timeout)

    def watch(
        self, job_id: str, after_seq: int = 0, timeout: float | None = None
    ) -> Iterator[pb.JobEvent]:
        """Events until the job's final one; stopping early leaves the job running."""
        request = pb.WatchJobRequest(job_id=job_id, after_seq=after_seq)
        return self._stream(self._stub.WatchJob, request, timeout)

    def wait(self, job_id: str, timeout: float | None = None) -> pb.Job:
        """Block until the job is final (by watching it); returns the job."""
        for _event in self.watch(job_id, timeout=timeout):
            pass
        return self.get(job_id)

    def get(self, job_id: str) -> pb.Job:
        return self._unary(self._stub.GetJob, pb.GetJobRequest(job_id=job_id))

    def list(self, states: Iterable[str] = (), limit: int | None = None) -> list[pb.Job]:
        """Jobs newest first, following pages up to ``limit``."""
        wanted = [STATES[s] for s in states]
        jobs: list[pb.Job] = []
        token = ""
        while limit is None or len(jobs) < limit:
            size = min(1000, limit - len(jobs)) if limit is not None else 1000
            page = self._unary(
                self._stub.ListJobs,
                pb.ListJobsRequest(states=wanted, page_size=size, page_token=token),
            )
            jobs.extend(page.jobs)
            token = page.next_page_token
            if not token:
                break
        return jobs

    def cancel(self, job_id: str) -> pb.Job:
        return self._unary(self._stub.CancelJob, pb.CancelJobRequest(job_id=job_id))

    def backends(self) -> list[pb.Backend]:
        return list(self._unary(self._stub.ListBackends, pb.ListBackendsRequest()).backends)

    def fetch(
        self,
        job_id: str,
        to_dir: str | Path | None = None,
        *,
        paths: bool = False,
        timeout: float | None = None,
    ) -> FetchedResult:
        """Download a succeeded job's result into ``to_dir`` (or, ``paths=True``, locate it)."""
        mode = pb.FETCH_MODE_PATHS if paths else pb.FETCH_MODE_BYTES
        stream = self._stream(
            self._stub.FetchResult, pb.FetchResultRequest(job_id=job_id, mode=mode), timeout
        )
        if paths:
            files = [chunk.file for chunk in stream if chunk.HasField("file")]
            timeline = next(f.server_path for f in files if f.role == pb.FILE_ROLE_TIMELINE)
            return FetchedResult(
                timeline=Path(timeline),
                audio=[Path(f.server_path) for f in files if f.role == pb.FILE_ROLE_AUDIO],
                on_server=True,
            )
        if to_dir is None:
            raise SonicVisionError("fetch needs a folder to write into", field="to_dir")
        out = Path(to_dir)
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".sonicvision-fetch-", dir=out))
        try:
            files = _receive(stream, staging)
            return _place(files, staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def receive(
    client: SonicVisionClient, job_id: str, staging: Path, timeout: float | None = None
) -> list[pb.ResultFile]:
    """A succeeded job's files, as the server names them, written and checked under
    ``staging``; the caller decides where they go (``fetch`` and ``foley --server`` differ)."""
    request = pb.FetchResultRequest(job_id=job_id, mode=pb.FETCH_MODE_BYTES)
    return _receive(client._stream(client._stub.FetchResult, request, timeout), staging)


def _receive(stream: Iterator[pb.ResultChunk], staging: Path) -> list[pb.ResultFile]:
    """Write each streamed file under ``staging``; check its size and checksum."""
    files: list[pb.ResultFile] = []
    fh, digest, size = None, None, 0

    def close_current() -> None:
        if fh is None:
            return
        fh.close()
        current = files[-1]
        if size != current.size or digest.hexdigest() != current.sha256:
            raise SonicVisionError(
                "fetched file does not match the server's size or checksum (transfer damaged)",
                path=current.name,
            )

    try:
        for chunk in stream:
            if chunk.HasField("file"):
                close_current()
                name = _safe_name(chunk.file.name)
                path = staging / name
                path.parent.mkdir(parents=True, exist_ok=True)
                files.append(chunk.file)
                fh, digest, size = open(path, "xb"), hashlib.sha256(), 0
            elif fh is not None:
                fh.write(chunk.data)
                digest.update(chunk.data)
                size += len(chunk.data)
        close_current()
        fh = None
    finally:
        if fh is not None and not fh.closed:
            fh.close()
    if sum(f.role == pb.FILE_ROLE_TIMELINE for f in files) != 1:
        raise SonicVisionError("server sent no result timeline (or more than one)")
    return files


def _link(source: Path, target: Path) -> None:
    """Into place without ever replacing a file (a hard link fails if the target exists)."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise TimelineWriteError("appeared while fetching; not replaced", path=target) from None
    except OSError:
        if target.exists():
            raise
        os.rename(source, target)  # no hard links on this volume (some network shares)


def _place(files: list[pb.ResultFile], staging: Path, out: Path) -> FetchedResult:
    """Link the audio into ``out`` (never replacing a file), then write the relinked timeline."""
    targets = [out / _safe_name(f.name) for f in files]
    for target in targets:
        if target.exists() or target.is_symlink():
            raise TimelineWriteError(
                "already exists; fetch never overwrites a file (choose another folder)",
                path=target,
            )
    placed: list[Path] = []
    urls: dict[str, str] = {}
    try:
        timeline_file = None
        for f, target in zip(files, targets, strict=True):
            if f.role != pb.FILE_ROLE_AUDIO:
                timeline_file = (f, target)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _link(staging / _safe_name(f.name), target)
            placed.append(target)
            if f.timeline_url:
                urls[f.timeline_url] = target.resolve().as_uri()
        f, target = timeline_file
        timeline = read_timeline(staging / _safe_name(f.name))
        for clip in timeline.find_clips():
            ref = clip.media_reference
            if isinstance(ref, otio.schema.ExternalReference) and ref.target_url in urls:
                ref.target_url = urls[ref.target_url]
        placed.append(write_timeline(timeline, target))
    except BaseException:
        for path in placed:
            path.unlink(missing_ok=True)
        raise
    return FetchedResult(timeline=placed[-1], audio=placed[:-1])
