"""Detection beside the decode: frames are measured while the next ones are decoded.

The shot scan decodes each clip once (PySceneDetect needs every frame anyway). Its frames go
to this worker as they come, so the detector's measuring overlaps the decoding on another
core and no clip is ever held whole: at most ``depth`` frames wait. A long clip goes to a
child process when the detector allows it (see ``child.py``: it escapes the interpreter
lock); otherwise one worker thread keeps the order (a stream's frames, then its shots)
without locks. Either way a shot's detection is the same.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import TracebackType

import cv2
import numpy as np

from sonicvision.events import Shot
from sonicvision.server.frames import MediaInfo
from sonicvision.server.shots import ClipWatch

from .base import Detection, Detector, FrameStream
from .child import STALL_S, DetectorProcess, DetectorProcessError, can_spawn

logger = logging.getLogger(__name__)

# Clips at least this long are measured in a child process: starting one costs about half a
# second of a core (a fresh interpreter importing numpy and OpenCV).
CHILD_FROM_S = 20.0


class DetectionWorker:
    """Runs ``detector`` on every scanned clip (a :class:`~sonicvision.server.shots.ClipWatcher`).

    ``results`` maps a shot's index to its detection's future; a failure in measuring a frame
    is raised by that shot's future. ``interrupt`` is called for every frame and while waiting
    on the detector; it raises to stop the run (a cancelled job stops inside a long shot).
    A detector that takes no frame for ``stall_s`` seconds fails the run.
    """

    def __init__(
        self,
        detector: Detector,
        depth: int = 32,
        child_from_s: float | None = CHILD_FROM_S,
        *,
        interrupt: Callable[[], None] | None = None,
        stall_s: float = STALL_S,
    ) -> None:
        self.detector = detector
        self.interrupt = interrupt or _carry_on
        self.stall_s = stall_s
        self.results: dict[int, Future[Detection]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detect")
        self._room = threading.BoundedSemaphore(depth)
        self._depth = depth
        self._child_from_s = child_from_s  # None: never in a child
        self._child: DetectorProcess | None = None
        self._child_tried = False

    def __call__(self, info: MediaInfo, first: int, count: int) -> ClipWatch:
        """A clip's scan of ``count`` frames starts at media frame ``first``."""
        rate = float(info.rate_exact)
        child = self._child_for(count / rate if rate > 0 else 0.0)
        if child is not None:
            return _ChildWatch(child, child.stream(rate), first, self.interrupt)
        return _ClipWatch(self, self.detector.stream(rate), first)

    def _child_for(self, seconds: float) -> DetectorProcess | None:
        """The child process, started for the first clip long enough to repay its start."""
        if self._child is not None or self._child_tried:
            return self._child
        if self._child_from_s is None or seconds < self._child_from_s:
            return None
        self._child_tried = True
        copy = self.detector.for_child()
        if copy is None or (os.cpu_count() or 1) < 2 or not can_spawn():
            return None
        try:
            self._child = DetectorProcess(
                copy, self._depth, stall_s=self.stall_s, interrupt=self.interrupt
            )
        except (OSError, RuntimeError) as exc:  # no processes here: threads do the same work
            logger.warning("detection stays in this process: %s", exc)
        return self._child

    def __enter__(self) -> DetectionWorker:
        _opencv_threads.enter()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        # After an error a hung detector thread is left behind rather than waited for.
        self._pool.shutdown(wait=error is None, cancel_futures=error is not None)
        if self._child is not None:
            self._child.close(wait=error is None)
        _opencv_threads.leave()

    def collect(self) -> dict[int, Detection]:
        """Every shot's detection, waiting for the last ones."""
        out = {}
        for index, future in self.results.items():
            while not wait([future], timeout=0.5).done:
                self.interrupt()
            out[index] = future.result()
        if self._child is not None:
            out.update(self._child.results())
        return out


class _ChildWatch:
    """One clip's stream in the child process."""

    def __init__(
        self, child: DetectorProcess, stream: int, first: int, interrupt: Callable[[], None]
    ) -> None:
        self.child, self.stream, self.first = child, stream, first
        self.interrupt = interrupt

    def frame(self, picture: np.ndarray) -> None:
        self.interrupt()
        self.child.frame(self.stream, picture)

    def shot(self, shot: Shot, before: int = 0, after: int = 0) -> None:
        if shot.frame_count >= 2:
            first = shot.first_frame - self.first
            self.child.shot(self.stream, shot.index, first, shot.frame_count, before, after)


class _ClipWatch:
    """One clip's stream: frames in, a detection per shot out (see ``FrameStream``)."""

    def __init__(self, worker: DetectionWorker, stream: FrameStream, first: int) -> None:
        self.worker, self.stream, self.first = worker, stream, first
        self.failed: BaseException | None = None

    def frame(self, picture: np.ndarray) -> None:
        worker = self.worker
        worker.interrupt()
        since = time.monotonic()
        while not worker._room.acquire(timeout=0.5):  # `depth` frames wait: bounded memory
            worker.interrupt()
            if time.monotonic() - since > worker.stall_s:
                raise DetectorProcessError(
                    f"the detector took no frame for {worker.stall_s:g} s; stopped waiting",
                    field="detector",
                )
        worker._pool.submit(self._push, picture)

    def shot(self, shot: Shot, before: int = 0, after: int = 0) -> None:
        if shot.frame_count < 2:
            return  # nothing moves in a single frame
        first = shot.first_frame - self.first
        self.worker.results[shot.index] = self.worker._pool.submit(
            self._shot, first, shot.frame_count, before, after
        )

    def _push(self, picture: np.ndarray) -> None:
        try:
            if self.failed is None:
                self.stream.push(picture)
        except BaseException as exc:  # noqa: BLE001 - raised again by the shot that needs it
            self.failed = exc
        finally:
            self.worker._room.release()

    def _shot(self, first: int, count: int, before: int, after: int) -> Detection:
        if self.failed is not None:
            raise self.failed
        return self.stream.shot(first, count, before, after)


def _carry_on() -> None:
    return None


class _OpenCVThreads:
    """OpenCV's own thread pool, off while any worker runs (the setting is per process).

    On pictures this small its functions gain nothing from it (measured: the same time, a
    third more CPU), and its spinning threads take the core the decode needs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._before = 0

    def enter(self) -> None:
        with self._lock:
            if self._users == 0:
                self._before = cv2.getNumThreads()
                cv2.setNumThreads(1)
            self._users += 1

    def leave(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                cv2.setNumThreads(self._before)


_opencv_threads = _OpenCVThreads()
