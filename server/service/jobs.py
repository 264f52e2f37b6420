"""The job queue and its one worker: model stages run one job at a time, in order.

A submit is checked, stored and queued at once (bounded: beyond ``max_queue`` waiting jobs it
is refused); the worker runs the pipeline with a progress callback that records events and
stops the job between shots or stages when it is cancelled. Results go to
``DATA/jobs/<id>/result/`` and are registered (size, SHA-256) in the same transaction that
marks the job succeeded. After a restart, jobs that were running are failed clearly (their
partial results removed) and queued jobs run again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sonicvision.adapters.errors import TimelineReadError
from sonicvision.adapters.io import adapter_for
from sonicvision.adapters.untrusted import check_timeline_file
from sonicvision.errors import ConfigError
from sonicvision.server.pipeline import FoleyResult

from .errors import (
    Cancelled,
    IdempotencyConflict,
    InvalidRequest,
    JobNotFound,
    JobStateError,
    QueueFull,
    ServerStopping,
    is_expected,
    message_for,
    status_for,
)
from .security import PathGuard
from .spec import JobSpec, Runner, run_pipeline, validate_spec
from .store import ErrorInfo, FileRecord, JobProgress, JobRecord, JobStore, State

logger = logging.getLogger(__name__)

JOB_ID = re.compile(r"[0-9a-f]{16}")
RESTARTED = "server restarted while running; submit the job again"
DEFAULT_MAX_QUEUE = 16
DEFAULT_MAX_UPLOAD = 256 * 1024 * 1024


class Reporter:
    """A job's progress callback: events out (throttled), cancel and shutdown checks in."""

    MIN_INTERVAL_S = 0.1

    def __init__(self, manager: JobManager, job_id: str) -> None:
        self.manager, self.job_id = manager, job_id
        self.counts = JobProgress()
        self._last = 0.0
        self._warned: set[str] = set()

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.manager.check_continue(self.job_id)
        found, rendered = self.counts.events_found, self.counts.clips_rendered
        if stage == "render":
            found, rendered = total, done
        counts = JobProgress(stage, done, total, found, rendered)
        now = time.monotonic()
        changed = stage != self.counts.stage or done in (0, total)
        self.counts = counts
        if changed or now - self._last >= self.MIN_INTERVAL_S:
            self._last = now
            self.manager.record(self.job_id, counts)

    def check(self) -> None:
        """Called by the pipeline for every decoded frame: a cancel stops the job within it."""
        self.manager.check_continue(self.job_id)

    def warn(self, text: str) -> None:
        if text and text not in self._warned:
            self._warned.add(text)
            self.manager.record(self.job_id, self.counts, warning=text)


class _WarningCapture(logging.Handler):
    """Our loggers' warnings from the worker thread become the job's warning events."""

    def __init__(self, reporter: Reporter) -> None:
        super().__init__(logging.WARNING)
        self.reporter = reporter
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread and record.levelno == logging.WARNING:
            self.reporter.warn(record.getMessage())


@contextmanager
def capture_warnings(reporter: Reporter) -> Iterator[None]:
    handler = _WarningCapture(reporter)
    root = logging.getLogger("sonicvision")
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def record_files(result: FoleyResult, result_dir: Path) -> list[FileRecord]:
    """Size and SHA-256 of every result file, flushed to disk before the job is marked done."""
    entries = [("timeline", Path(result.output))] + [("audio", Path(c.path)) for c in result.clips]
    records = []
    for role, path in entries:
        with open(path, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
            os.fsync(fh.fileno())
        records.append(
            FileRecord(
                role=role,
                name=path.resolve().relative_to(result_dir.resolve()).as_posix(),
                path=str(path.resolve()),
                size=path.stat().st_size,
                sha256=digest,
                timeline_url=path.resolve().as_uri() if role == "audio" else "",
            )
        )
    for folder in {p.parent for _, p in entries} | {result_dir}:
        _fsync_dir(folder)
    return records


def _summary(result: FoleyResult) -> dict:
    s = result.summary()
    return {
        "timeline": Path(s["output"]).name,
        **{k: s[k] for k in ("shots", "events", "onscreen", "offscreen", "clips")},
        "audio_seconds": s["audio_seconds"],
        "seconds": s["seconds"],
    }


def _error_info(exc: BaseException) -> ErrorInfo:
    return ErrorInfo(
        code=status_for(exc).name,
        message=message_for(exc),
        path=getattr(exc, "path", None) or "",
        clip=getattr(exc, "clip", None) or "",
        field=getattr(exc, "field", None) or "",
    )


def precheck(timeline: Path, shown: str) -> None:
    """Size, nesting and archive checks, with errors naming the file as the client did."""
    try:
        check_timeline_file(timeline, adapter_for(timeline), name=shown)
    except TimelineReadError as exc:
        raise TimelineReadError(exc.message, path=shown, field=exc.field) from None


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)


class JobManager:
    """Submit, cancel, watch and fetch jobs; one worker thread runs them in order."""

    WRITE_TRIES = 4
    RETRY_S = 0.25

    def __init__(
        self,
        store: JobStore,
        data_dir: Path,
        media_roots: Sequence[str | Path] = (),
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        max_upload: int = DEFAULT_MAX_UPLOAD,
        runner: Runner = run_pipeline,
        keep_days: float | None = None,
        max_results_bytes: int | None = None,
        backends: object | None = None,
    ) -> None:
        """``keep_days`` and ``max_results_bytes``: finished jobs older than that, and the oldest
        finished ones beyond that many bytes of results, are deleted (None: kept)."""
        if max_queue < 1:
            raise ConfigError("the queue must hold at least one job", field="max-queue")
        if keep_days is not None and not keep_days > 0:
            raise ConfigError("--keep-days must be positive", field="keep-days")
        if max_results_bytes is not None and max_results_bytes < 0:
            raise ConfigError("--max-results-gb must not be negative", field="max-results-gb")
        self.keep_days = keep_days
        self.max_results_bytes = max_results_bytes
        self.backends = backends
        self.store = store
        self.guard = PathGuard(media_roots)
        self.jobs_dir = data_dir / "jobs"
        self.staging_dir = data_dir / "staging"
        self.max_queue = max_queue
        self.max_upload = max_upload
        self.runner = runner
        self._cv = threading.Condition()
        self._queue: deque[str] = deque()
        self._cancel: set[str] = set()
        self._stopping = False
        self._generation = 0
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Recover from the last run, then start the worker (it waits for ``set_ready``)."""
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        _remove_tree(self.staging_dir)
        self.staging_dir.mkdir()
        for job_id in self.store.ids_in_state(State.RUNNING):
            _remove_tree(self.jobs_dir / job_id / "result")
            self.store.finish(job_id, State.FAILED, error=ErrorInfo("UNAVAILABLE", RESTARTED))
            logger.warning("job %s was running when the server stopped: failed", job_id)
        self._queue.extend(self.store.ids_in_state(State.QUEUED))
        if self._queue:
            logger.info("%d queued jobs resume", len(self._queue))
        self.sweep()
        self._thread = threading.Thread(target=self._work, name="sonicvision-worker", daemon=True)
        self._thread.start()

    def set_ready(self) -> None:
        """Backends are loaded: the worker may take jobs."""
        self._ready.set()

    def stop(self, timeout: float = 10.0) -> None:
        """A running job stops at its next shot or stage (failed: server stopped)."""
        with self._cv:
            self._stopping = True
            self._generation += 1
            self._cv.notify_all()
        self._ready.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("worker still busy after %.0f s; leaving it", timeout)

    @property
    def stopping(self) -> bool:
        return self._stopping

    def wake(self) -> None:
        """Let watchers re-check (a client went away, or something changed)."""
        with self._cv:
            self._generation += 1
            self._cv.notify_all()

    def sweep(self) -> list[str]:
        """Retention: finished jobs past ``keep_days``, then the oldest finished ones while the
        results exceed ``max_results_bytes``. Queued and running jobs are never touched."""
        finished = self.store.finished_jobs()
        doomed: list[str] = []
        if self.keep_days is not None:
            cutoff = time.time() - self.keep_days * 86400
            doomed = [job_id for job_id, at, _ in finished if at < cutoff]
        if self.max_results_bytes is not None:
            kept = [(job_id, size) for job_id, _, size in finished if job_id not in doomed]
            total = sum(size for _, size in kept)
            for job_id, size in kept:
                if total <= self.max_results_bytes:
                    break
                doomed.append(job_id)
                total -= size
        for job_id in doomed:
            _remove_tree(self.jobs_dir / job_id)
            self.store.delete(job_id)
        if doomed:
            logger.info("retention: deleted %d finished jobs and their results", len(doomed))
        return doomed

    # -- requests ---------------------------------------------------------------------------

    def submit(
        self, spec: JobSpec, upload: bytes | None = None, idempotency_key: str = ""
    ) -> tuple[JobRecord, bool]:
        """Queue a job (or return the one this idempotency key made); ``True`` if new."""
        spec = validate_spec(spec, self.guard)
        if upload is None:
            real = self.guard.file(spec.server_path, "server_path", self.max_upload)
            spec = dataclasses.replace(spec, server_path=str(real), timeline_name=real.name)
        elif len(upload) > self.max_upload:
            raise InvalidRequest(
                f"upload is {len(upload)} bytes, over the server's limit of {self.max_upload}",
                path=spec.timeline_name,
                field="upload.content",
            )
        fingerprint = hashlib.sha256(
            json.dumps(spec.to_dict(), sort_keys=True).encode()
            + hashlib.sha256(upload or b"").digest()
        ).hexdigest()
        if existing := self._existing(idempotency_key, fingerprint):
            return existing, False
        self._check_room()
        staged = self._stage(spec.timeline_name, upload) if upload is not None else None
        try:
            timeline = staged / "input" / spec.timeline_name if staged else Path(spec.server_path)
            # Cheap structural checks here; OTIO parses it in the worker, never in an RPC thread.
            precheck(timeline, spec.timeline_name if staged else spec.server_path)
            with self._cv:
                if existing := self._existing(idempotency_key, fingerprint):
                    return existing, False
                self._check_room()
                job_id = secrets.token_hex(8)
                job_dir = self.jobs_dir / job_id
                if staged is not None:
                    os.rename(staged, job_dir)
                    staged = None
                else:
                    job_dir.mkdir()
                record = JobRecord(
                    id=job_id,
                    job_pass=spec.job_pass,
                    state=State.QUEUED,
                    spec=spec.to_dict(),
                    timeline_name=spec.timeline_name,
                    created=time.time(),
                    idempotency_key=idempotency_key or None,
                    fingerprint=fingerprint,
                )
                try:
                    self.store.insert(record)
                except BaseException:
                    _remove_tree(job_dir)
                    raise
                self._queue.append(job_id)
                self._generation += 1
                self._cv.notify_all()
        finally:
            if staged is not None:
                _remove_tree(staged)
        logger.info("job %s queued: %s %s", job_id, spec.job_pass, spec.timeline_name)
        return self.get(job_id), True

    def _existing(self, key: str, fingerprint: str) -> JobRecord | None:
        if not key:
            return None
        job = self.store.by_key(key)
        if job is not None and job.fingerprint != fingerprint:
            raise IdempotencyConflict(
                f"idempotency key {key!r} was used for a different request (job {job.id})",
                field="idempotency_key",
            )
        return job

    def _check_room(self) -> None:
        if self._stopping:
            raise ServerStopping("the server is shutting down; submit again when it is back")
        if len(self._queue) >= self.max_queue:
            raise QueueFull(
                f"the job queue is full ({self.max_queue} waiting); retry when a job finishes"
            )

    def _stage(self, name: str, data: bytes) -> Path:
        """The upload written and flushed in a private folder, renamed into place on queueing."""
        folder = self.staging_dir / secrets.token_hex(8)
        (folder / "input").mkdir(parents=True)
        path = folder / "input" / name
        with open(path, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return folder

    def get(self, job_id: str) -> JobRecord:
        job = self.store.get(job_id) if JOB_ID.fullmatch(job_id or "") else None
        if job is None:
            raise JobNotFound(f"no job {job_id!r} on this server", field="job_id")
        return job

    def queue_position(self, job_id: str) -> int:
        with self._cv:
            try:
                return self._queue.index(job_id) + 1
            except ValueError:
                return 0

    def list(
        self, states: Sequence[State] = (), limit: int = 50, before: int | None = None
    ) -> list[JobRecord]:
        return self.store.list(states, limit, before)

    def cancel(self, job_id: str) -> JobRecord:
        with self._cv:
            job = self.get(job_id)
            if job.state == State.QUEUED:
                self._queue.remove(job_id)
                self.store.finish(
                    job_id,
                    State.CANCELLED,
                    error=ErrorInfo("CANCELLED", "cancelled before it started"),
                )
            elif job.state == State.RUNNING:
                self.store.request_cancel(job_id)
                self._cancel.add(job_id)
            self._generation += 1
            self._cv.notify_all()
        return self.get(job_id)

    def files(self, job_id: str) -> list[FileRecord]:
        job = self.get(job_id)
        if job.state != State.SUCCEEDED:
            raise JobStateError(
                f"job {job_id} is {job.state.value}; only a succeeded job has a result",
                field="job_id",
            )
        return self.store.files(job_id)

    def watch(
        self, job_id: str, after: int = 0, active: Callable[[], bool] = lambda: True
    ) -> Iterator:
        """Stored events after ``after``, then new ones as they come, up to the final one."""
        self.get(job_id)
        last = after
        while True:
            with self._cv:
                generation = self._generation
            events = self.store.events(job_id, last)
            if not events and self.get(job_id).state.final:
                events = self.store.events(job_id, last)  # the final event may have just landed
                if not events:
                    return
            for event in events:
                yield event
                last = event.seq
                if event.final:
                    return
            if events:
                continue
            with self._cv:
                self._cv.wait_for(
                    lambda seen=generation: (
                        self._generation != seen or self._stopping or not active()
                    ),
                    timeout=1.0,
                )
                if self._stopping:
                    raise ServerStopping("the server is stopping; watch again when it is back")
                if not active():
                    return

    # -- the worker -------------------------------------------------------------------------

    def _redact(self, info: ErrorInfo) -> ErrorInfo:
        """No server folder in what a client reads: a job's own files by their names only."""

        def clean(text: str) -> str:
            for folder in (self.jobs_dir, self.staging_dir):
                for form in {str(folder), str(folder.resolve())}:
                    text = re.sub(re.escape(form) + r"/[0-9a-f]{16}/(?:input|result)/", "", text)
                    text = text.replace(form, "<server data>")
            return text

        return dataclasses.replace(info, message=clean(info.message), path=clean(info.path))

    def check_continue(self, job_id: str) -> None:
        """Raised out of the pipeline's progress callback: the only way a job stops early."""
        if self._stopping:
            raise ServerStopping("server stopped while the job was running; submit it again")
        if job_id in self._cancel:
            raise Cancelled("cancelled on request")

    def record(self, job_id: str, counts: JobProgress, warning: str = "") -> None:
        self.store.progress(job_id, counts, warning)
        self.wake()

    def _work(self) -> None:
        self._ready.wait()
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._queue or self._stopping)
                if self._stopping:
                    return
                job_id = self._queue.popleft()
                self._generation += 1
                self._cv.notify_all()
            try:
                self._retry(lambda j=job_id: self.store.start(j), job_id, "start")
                self._run(job_id)
            except Exception as exc:
                logger.warning("job %s: bookkeeping failed: %s", job_id, exc)
                self._give_up(job_id, exc)
            finally:
                try:
                    self.sweep()
                except Exception as exc:  # retention must never stop the worker
                    logger.warning("retention sweep failed: %s", exc)
                with self._cv:
                    self._cancel.discard(job_id)
                    self._generation += 1
                    self._cv.notify_all()

    def _run(self, job_id: str) -> None:
        job = self.store.get(job_id)
        assert job is not None
        spec = JobSpec.from_dict(job.spec)
        job_dir = self.jobs_dir / job_id
        result_dir = job_dir / "result"
        reporter = Reporter(self, job_id)
        started = time.monotonic()
        try:
            spec = validate_spec(spec, self.guard)  # roots and links may have changed since
            if spec.server_path:
                timeline = self.guard.file(spec.server_path, "server_path")
            else:
                timeline = job_dir / "input" / spec.timeline_name
            result_dir.mkdir()  # never reused: a result is written once
            with capture_warnings(reporter):
                warm = {"backends": self.backends} if self.backends is not None else {}
                result = self.runner(spec, timeline, result_dir, reporter, **warm)
            for note in result.analysis.notes:
                reporter.warn(note)
            files = record_files(result, result_dir)
            counts = JobProgress("done", 1, 1, len(result.analysis.events), len(result.clips))
        except Exception as exc:
            self._failed(job_id, exc, result_dir, reporter)
            return
        try:
            self._retry(
                lambda: self.store.finish(
                    job_id, State.SUCCEEDED, summary=_summary(result), files=files, progress=counts
                ),
                job_id,
                "finish",
            )
        except Exception as exc:
            _remove_tree(result_dir)
            self._give_up(job_id, exc)
            return
        logger.info("job %s succeeded in %.2f s", job_id, time.monotonic() - started)

    def _failed(self, job_id: str, exc: Exception, result_dir: Path, reporter: Reporter) -> None:
        """A job the pipeline stopped: its partial result removed, its reason recorded."""
        _remove_tree(result_dir)
        state = State.CANCELLED if isinstance(exc, Cancelled) else State.FAILED
        if is_expected(exc):
            logger.warning("job %s %s: %s", job_id, state.value, exc)
        else:
            logger.error("job %s failed unexpectedly", job_id, exc_info=exc)
        error = self._redact(_error_info(exc))
        try:
            self._retry(
                lambda: self.store.finish(job_id, state, error=error, progress=reporter.counts),
                job_id,
                "finish",
            )
        except Exception as again:
            self._give_up(job_id, again)

    def _retry(self, write: Callable[[], object], job_id: str, what: str) -> None:
        """A store write tried a few times: a locked database or a full disk may clear."""
        for attempt in range(self.WRITE_TRIES):
            try:
                write()
                return
            except Exception as exc:
                if attempt + 1 == self.WRITE_TRIES:
                    raise
                logger.warning("job %s: %s not recorded (%s); retrying", job_id, what, exc)
                time.sleep(self.RETRY_S * 2**attempt)

    def _give_up(self, job_id: str, exc: BaseException) -> None:
        """The job's end could not be recorded as it was: record it as failed, saying why."""
        error = ErrorInfo(
            "INTERNAL",
            f"the server could not record the job's end ({type(exc).__name__}: "
            f"{self._redact(ErrorInfo('', str(exc))).message}); submit it again",
        )
        try:
            self._retry(
                lambda: self.store.finish(job_id, State.FAILED, error=error), job_id, "failure"
            )
        except Exception:
            logger.exception("job %s: its end cannot be recorded; it stays running", job_id)
