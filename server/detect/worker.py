"""Detection beside the decode: one thread measures frames while the next ones are decoded.

The shot scan decodes each clip once (PySceneDetect needs every frame anyway). Its frames go
to this worker as they come, so the detector's measuring overlaps the decoding on a second
core and no clip is ever held whole: at most ``depth`` frames wait. One worker thread keeps
the order (a stream's frames, then its shots) without locks.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

import cv2
import numpy as np

from sonicvision.events import Shot
from sonicvision.server.frames import MediaInfo

from .base import Detection, Detector, FrameStream


class DetectionWorker:
    """Runs ``detector`` on every scanned clip (a :class:`~sonicvision.server.shots.ClipWatcher`).

    ``results`` maps a shot's index to its detection's future; a failure in measuring a frame
    is raised by that shot's future.
    """

    def __init__(self, detector: Detector, depth: int = 32) -> None:
        self.detector = detector
        self.results: dict[int, Future[Detection]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detect")
        self._room = threading.BoundedSemaphore(depth)

    def __call__(self, info: MediaInfo, first: int) -> _ClipWatch:
        """A clip's scan starts at media frame ``first``."""
        return _ClipWatch(self, self.detector.stream(float(info.rate_exact)), first)

    def __enter__(self) -> DetectionWorker:
        _opencv_threads.enter()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._pool.shutdown(wait=True, cancel_futures=error is not None)
        _opencv_threads.leave()

    def collect(self) -> dict[int, Detection]:
        """Every shot's detection, waiting for the last ones."""
        return {index: future.result() for index, future in self.results.items()}


class _ClipWatch:
    """One clip's stream: frames in, a detection per shot out (see ``FrameStream``)."""

    def __init__(self, worker: DetectionWorker, stream: FrameStream, first: int) -> None:
        self.worker, self.stream, self.first = worker, stream, first
        self.failed: BaseException | None = None

    def frame(self, picture: np.ndarray) -> None:
        self.worker._room.acquire()  # blocks while `depth` frames wait: bounded memory
        self.worker._pool.submit(self._push, picture)

    def shot(self, shot: Shot) -> None:
        if shot.frame_count < 2:
            return  # nothing moves in a single frame
        first = shot.first_frame - self.first
        self.worker.results[shot.index] = self.worker._pool.submit(
            self._shot, first, shot.frame_count
        )

    def _push(self, picture: np.ndarray) -> None:
        try:
            if self.failed is None:
                self.stream.push(picture)
        except BaseException as exc:  # noqa: BLE001 - raised again by the shot that needs it
            self.failed = exc
        finally:
            self.worker._room.release()

    def _shot(self, first: int, count: int) -> Detection:
        if self.failed is not None:
            raise self.failed
        return self.stream.shot(first, count)


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
