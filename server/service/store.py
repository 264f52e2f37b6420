"""Jobs, their events and their result files in one SQLite file, so a restart loses nothing.

stdlib ``sqlite3`` in WAL mode with ``synchronous=FULL``: a transaction that returned is on
disk, even if the process is killed the next instant. Each state change and its event are
written in one transaction, so a reader never sees a job whose last event disagrees with it.
One connection, guarded by a lock: the server has one writer (the worker) and short reads.
"""

from __future__ import annotations

import enum
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT UNIQUE,
    fingerprint TEXT NOT NULL,
    job_pass TEXT NOT NULL,
    state TEXT NOT NULL,
    spec TEXT NOT NULL,
    timeline_name TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    stage TEXT NOT NULL DEFAULT '',
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    events_found INTEGER NOT NULL DEFAULT 0,
    clips_rendered INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    summary TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    seq INTEGER NOT NULL,
    time REAL NOT NULL,
    state TEXT NOT NULL,
    stage TEXT NOT NULL,
    done INTEGER NOT NULL,
    total INTEGER NOT NULL,
    events_found INTEGER NOT NULL,
    clips_rendered INTEGER NOT NULL,
    warning TEXT NOT NULL DEFAULT '',
    error TEXT,
    final INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, seq)
);
CREATE TABLE IF NOT EXISTS files (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    ord INTEGER NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    timeline_url TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, ord)
);
"""


class State(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (State.SUCCEEDED, State.FAILED, State.CANCELLED)


@dataclass(frozen=True)
class ErrorInfo:
    """Why a job stopped: a gRPC status name and the error's own words and context."""

    code: str
    message: str
    path: str = ""
    clip: str = ""
    field: str = ""

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str | None) -> ErrorInfo | None:
        return cls(**json.loads(text)) if text else None


@dataclass(frozen=True)
class JobProgress:
    stage: str = ""
    done: int = 0
    total: int = 0
    events_found: int = 0
    clips_rendered: int = 0


@dataclass(frozen=True)
class EventRecord:
    job_id: str
    seq: int
    time: float
    state: State
    progress: JobProgress
    warning: str = ""
    error: ErrorInfo | None = None
    final: bool = False


@dataclass(frozen=True)
class FileRecord:
    role: str  # "timeline" or "audio"
    name: str  # relative to the job's result folder, "/"-separated
    path: str  # absolute, on this server
    size: int
    sha256: str
    timeline_url: str = ""


@dataclass(frozen=True)
class JobRecord:
    id: str
    job_pass: str
    state: State
    spec: dict
    timeline_name: str
    created: float
    idempotency_key: str | None = None
    fingerprint: str = ""
    started: float | None = None
    finished: float | None = None
    cancel_requested: bool = False
    progress: JobProgress = JobProgress()
    error: ErrorInfo | None = None
    summary: dict | None = None
    warnings: list[str] = field(default_factory=list)
    rowid: int = 0


class JobStore:
    """Every read and write of job state; callers never see SQL."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise RuntimeError(f"{path}: job store schema {version} is newer than this server")
        self._db.executescript(SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writes: each one transaction -------------------------------------------------------

    def _tx(self):
        """A write transaction under the lock: ``with self._tx() as db:``."""
        return _Transaction(self._lock, self._db)

    def insert(self, job: JobRecord) -> EventRecord:
        """A new queued job and its first event."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs (id, idempotency_key, fingerprint, job_pass, state, spec,"
                " timeline_name, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.idempotency_key,
                    job.fingerprint,
                    job.job_pass,
                    job.state.value,
                    json.dumps(job.spec),
                    job.timeline_name,
                    job.created,
                ),
            )
            return self._event(db, job.id, job.state, JobProgress(), final=False)

    def start(self, job_id: str) -> EventRecord:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state = ?, started = ? WHERE id = ?",
                (State.RUNNING.value, time.time(), job_id),
            )
            return self._event(db, job_id, State.RUNNING, self._progress(db, job_id))

    def progress(self, job_id: str, progress: JobProgress, warning: str = "") -> EventRecord:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET stage = ?, done = ?, total = ?, events_found = ?,"
                " clips_rendered = ? WHERE id = ?",
                (
                    progress.stage,
                    progress.done,
                    progress.total,
                    progress.events_found,
                    progress.clips_rendered,
                    job_id,
                ),
            )
            state = State(self._row(db, job_id)["state"])
            return self._event(db, job_id, state, progress, warning=warning)

    def finish(
        self,
        job_id: str,
        state: State,
        *,
        error: ErrorInfo | None = None,
        summary: dict | None = None,
        files: Iterable[FileRecord] = (),
        progress: JobProgress | None = None,
    ) -> EventRecord:
        """The final state, its result files and the final event, all or nothing."""
        assert state.final
        with self._tx() as db:
            progress = progress or self._progress(db, job_id)
            db.execute(
                "UPDATE jobs SET state = ?, finished = ?, error = ?, summary = ?, stage = ?,"
                " done = ?, total = ?, events_found = ?, clips_rendered = ? WHERE id = ?",
                (
                    state.value,
                    time.time(),
                    error.to_json() if error else None,
                    json.dumps(summary) if summary is not None else None,
                    progress.stage,
                    progress.done,
                    progress.total,
                    progress.events_found,
                    progress.clips_rendered,
                    job_id,
                ),
            )
            db.executemany(
                "INSERT INTO files (job_id, ord, role, name, path, size, sha256, timeline_url)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (job_id, i, f.role, f.name, f.path, f.size, f.sha256, f.timeline_url)
                    for i, f in enumerate(files)
                ],
            )
            return self._event(db, job_id, state, progress, error=error, final=True)

    def delete(self, job_id: str) -> None:
        """A finished job gone for good: its row, events and file records."""
        with self._tx() as db:
            for table, key in (("events", "job_id"), ("files", "job_id"), ("jobs", "id")):
                db.execute(f"DELETE FROM {table} WHERE {key} = ?", (job_id,))

    def finished_jobs(self) -> list[tuple[str, float, int]]:
        """(id, finished time, result bytes) of every finished job, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT j.id, COALESCE(j.finished, j.created) AS at,"
                " COALESCE((SELECT SUM(size) FROM files f WHERE f.job_id = j.id), 0) AS bytes"
                " FROM jobs j WHERE j.state IN (?, ?, ?) ORDER BY at, j.rowid",
                (State.SUCCEEDED.value, State.FAILED.value, State.CANCELLED.value),
            ).fetchall()
        return [(r["id"], r["at"], r["bytes"]) for r in rows]

    def request_cancel(self, job_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))

    def _event(
        self,
        db: sqlite3.Connection,
        job_id: str,
        state: State,
        progress: JobProgress,
        *,
        warning: str = "",
        error: ErrorInfo | None = None,
        final: bool = False,
    ) -> EventRecord:
        seq = db.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE job_id = ?", (job_id,)
        ).fetchone()[0]
        event = EventRecord(job_id, seq, time.time(), state, progress, warning, error, final)
        db.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                seq,
                event.time,
                state.value,
                progress.stage,
                progress.done,
                progress.total,
                progress.events_found,
                progress.clips_rendered,
                warning,
                error.to_json() if error else None,
                int(final),
            ),
        )
        return event

    # -- reads ------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute("SELECT rowid, * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return self._job(row) if row else None

    def by_key(self, key: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT rowid, * FROM jobs WHERE idempotency_key = ?", (key,)
            ).fetchone()
            return self._job(row) if row else None

    def list(
        self, states: Iterable[State] = (), limit: int = 50, before: int | None = None
    ) -> list[JobRecord]:
        """Newest first; ``before`` is the rowid the previous page ended at."""
        where, args = [], []
        states = list(states)
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            args += [s.value for s in states]
        if before is not None:
            where.append("rowid < ?")
            args.append(before)
        sql = "SELECT rowid, * FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY rowid DESC LIMIT ?", (*args, limit)).fetchall()
            return [self._job(r) for r in rows]

    def ids_in_state(self, state: State) -> list[str]:
        """Oldest first: the order queued jobs run in."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM jobs WHERE state = ? ORDER BY rowid", (state.value,)
            ).fetchall()
            return [r["id"] for r in rows]

    def events(self, job_id: str, after: int = 0, limit: int = 500) -> list[EventRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (job_id, after, limit),
            ).fetchall()
        return [
            EventRecord(
                r["job_id"],
                r["seq"],
                r["time"],
                State(r["state"]),
                _progress_of(r),
                r["warning"],
                ErrorInfo.from_json(r["error"]),
                bool(r["final"]),
            )
            for r in rows
        ]

    def files(self, job_id: str) -> list[FileRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT role, name, path, size, sha256, timeline_url FROM files"
                " WHERE job_id = ? ORDER BY ord",
                (job_id,),
            ).fetchall()
        return [FileRecord(**dict(r)) for r in rows]

    def _progress(self, db: sqlite3.Connection, job_id: str) -> JobProgress:
        return _progress_of(self._row(db, job_id))

    @staticmethod
    def _row(db: sqlite3.Connection, job_id: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        return row

    def _job(self, row: sqlite3.Row) -> JobRecord:
        warnings = [
            r[0]
            for r in self._db.execute(
                "SELECT warning FROM events WHERE job_id = ? AND warning != '' ORDER BY seq",
                (row["id"],),
            )
        ]
        return JobRecord(
            id=row["id"],
            job_pass=row["job_pass"],
            state=State(row["state"]),
            spec=json.loads(row["spec"]),
            timeline_name=row["timeline_name"],
            created=row["created"],
            idempotency_key=row["idempotency_key"],
            fingerprint=row["fingerprint"],
            started=row["started"],
            finished=row["finished"],
            cancel_requested=bool(row["cancel_requested"]),
            progress=_progress_of(row),
            error=ErrorInfo.from_json(row["error"]),
            summary=json.loads(row["summary"]) if row["summary"] else None,
            warnings=warnings,
            rowid=row["rowid"],
        )


def _progress_of(row: sqlite3.Row) -> JobProgress:
    return JobProgress(
        row["stage"], row["done"], row["total"], row["events_found"], row["clips_rendered"]
    )


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK``) while holding the store's lock."""

    def __init__(self, lock: threading.Lock, db: sqlite3.Connection) -> None:
        self._lock, self._db = lock, db

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(self, kind, exc, tb) -> None:
        try:
            self._db.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            self._lock.release()
