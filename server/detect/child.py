"""Detection in a child process: the decode keeps this process, the detector gets its own.

The motion detector is many small numpy and OpenCV calls. In threads of the decoding process
they queue for one interpreter lock: on 2 cores its pair measuring ran 1.36x faster in two
threads than in one, and 1.94x in two processes. So a long clip's frames go to a child
process through a bounded queue, whose sender thread writes while the decode goes on; one
result per shot comes back. The child computes exactly what a thread would: same code, same
numbers.

The child is ``python -m sonicvision.server.detect.child`` talking over its stdin/stdout
(length-prefixed pickles), not ``multiprocessing``: spawn would re-import the caller's main
script in the child (running a script without a ``__main__`` guard twice), and fork is unsafe
beside gRPC's and the decoder's threads.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from sonicvision.errors import SonicVisionError

from .base import Detection, Detector

logger = logging.getLogger(__name__)

_POLL_S = 0.5
# A child that neither takes a frame nor answers for this long is hung (a stuck decoder
# library, a deadlock): it is killed and the job fails with that reason.
STALL_S = 60.0
_HEADER = struct.Struct("<Q")


class DetectorProcessError(SonicVisionError):
    """The child process that runs the detector stopped before answering."""


def can_spawn() -> bool:
    """A child can be started: this is a Python interpreter (inside an editor's embedded
    Python, such as Resolve's, ``sys.executable`` is the editor itself) and not a frozen app."""
    name = re.split(r"[\\/]", sys.executable or "")[-1].lower()
    is_python = re.fullmatch(r"pythonw?[0-9.]*(\.exe)?", name) is not None
    return is_python and not getattr(sys, "frozen", False)


class DetectorProcess:
    """A child process running ``detector``'s streams, one clip at a time."""

    def __init__(
        self,
        detector: Detector,
        depth: int = 32,
        *,
        stall_s: float = STALL_S,
        interrupt: Callable[[], None] | None = None,
    ) -> None:
        """``interrupt`` is called while waiting on the child; it raises to stop (a cancel)."""
        self._stall_s = stall_s
        self._interrupt = interrupt
        self._moved = time.monotonic()  # the last time the child took a message or answered
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # what we import, it can
        self._process = subprocess.Popen(
            [sys.executable, "-m", "sonicvision.server.detect.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,  # the terminal's Ctrl-C is for us; we end the child (POSIX)
        )
        self._outbox: queue.Queue[tuple | None] = queue.Queue(maxsize=depth)
        self._answers: dict[int, tuple[str, Any]] = {}
        self._waiting: set[int] = set()
        self._changed = threading.Condition()
        self._ended = False  # the child's output closed
        self._streams = 0
        self._sender = threading.Thread(target=self._send, name="detect-send", daemon=True)
        self._reader = threading.Thread(target=self._read, name="detect-read", daemon=True)
        self._sender.start()
        self._reader.start()
        self._put(("detector", detector))

    def stream(self, rate: float) -> int:
        """Start a clip's stream in the child; frames and shots that follow belong to it."""
        self._streams += 1
        self._put(("stream", self._streams, rate))
        return self._streams

    def frame(self, stream: int, picture: Any) -> None:
        self._put(("frame", stream, picture))

    def shot(
        self, stream: int, index: int, first: int, count: int, before: int = 0, after: int = 0
    ) -> None:
        self._waiting.add(index)
        self._put(("shot", stream, index, first, count, before, after))

    def results(self) -> dict[int, Detection]:
        """Every shot's detection, waiting for the last ones; a failed one raises its error."""
        since = time.monotonic()
        with self._changed:
            while not self._waiting <= self._answers.keys() and not self._ended:
                self._changed.wait(_POLL_S)
                self._check_alive(since)
            answers = {i: self._answers[i] for i in self._waiting if i in self._answers}
        if len(answers) < len(self._waiting):
            self._stopped()
        for kind, value in answers.values():
            if kind == "error":
                raise value
        return {i: value for i, (_, value) in answers.items()}

    def close(self, *, wait: bool = True) -> None:
        """End the child: after its work with ``wait``, else at once."""
        if wait and self._process.poll() is None:
            try:
                self._outbox.put(None, timeout=_POLL_S)
                self._sender.join(timeout=10)
                self._process.wait(timeout=10)
            except (queue.Full, subprocess.TimeoutExpired):
                pass
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self._reader.join(timeout=5)
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None and not pipe.closed:
                try:
                    pipe.close()
                except OSError:
                    pass  # a sender thread blocked in write finds it closed and ends

    def _put(self, message: tuple) -> None:
        since = time.monotonic()
        while True:
            try:
                self._outbox.put(message, timeout=_POLL_S)
                return
            except queue.Full:
                if self._process.poll() is not None or not self._sender.is_alive():
                    self._stopped()
                self._check_alive(since)

    def _check_alive(self, since: float) -> None:
        """While waiting (since ``since``): a cancel is honoured; a child that stopped is killed."""
        if self._interrupt is not None:
            self._interrupt()
        idle = time.monotonic() - max(self._moved, since)
        if idle > self._stall_s and self._process.poll() is None:
            self._process.kill()
            raise DetectorProcessError(
                f"the detector's process made no progress for {idle:.0f} s "
                f"(limit {self._stall_s:g} s); it was stopped",
                field="detector",
            )

    def _stopped(self) -> None:
        raise DetectorProcessError(
            "The detector's process stopped before answering "
            f"(exit code {self._process.poll()}); its own error, if any, is printed above.",
            field="detector",
        )

    def _send(self) -> None:
        pipe = self._process.stdin
        assert pipe is not None
        try:
            while (message := self._outbox.get()) is not None:
                _write(pipe, message)
                self._moved = time.monotonic()
            pipe.close()
        except (OSError, ValueError) as exc:  # the child went away; _put and results notice
            logger.debug("detector process input closed: %s", exc)

    def _read(self) -> None:
        pipe = self._process.stdout
        assert pipe is not None
        try:
            while (message := _read(pipe)) is not None:
                kind, index, value = message
                self._moved = time.monotonic()
                with self._changed:
                    self._answers[index] = (kind, value)
                    self._changed.notify_all()
        except (OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:
            logger.debug("detector process output closed: %s", exc)
        with self._changed:
            self._ended = True
            self._changed.notify_all()


def _write(pipe: IO[bytes], message: tuple) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(_HEADER.pack(len(data)))
    pipe.write(data)
    pipe.flush()


def _read(pipe: IO[bytes]) -> Any:
    """The next message, or None at the end of the stream."""
    header = pipe.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = pipe.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


def serve(inbox: IO[bytes], outbox: IO[bytes]) -> None:
    """The child: run each stream's frames, answer each shot with its detection or error."""
    import cv2

    cv2.setNumThreads(1)  # see worker._OpenCVThreads
    detector: Detector | None = None
    stream = None
    number = -1
    failed: BaseException | None = None
    while (message := _read(inbox)) is not None:
        kind = message[0]
        if kind == "detector":
            detector = message[1]
        elif kind == "stream":
            _, number, rate = message
            failed = None
            try:
                assert detector is not None, "no detector was sent"
                stream = detector.stream(rate)
            except Exception as exc:  # noqa: BLE001 - answered with the stream's shots
                stream, failed = None, exc
        elif kind == "frame":
            if message[1] == number and failed is None and stream is not None:
                try:
                    stream.push(message[2])
                except Exception as exc:  # noqa: BLE001 - answered with the stream's shots
                    failed = exc
        elif kind == "shot":
            _, of, index, first, count, before, after = message
            try:
                if failed is not None:
                    raise failed
                if of != number or stream is None:
                    raise RuntimeError(f"shot {index} was asked of a stream that has ended")
                answer: tuple = ("ok", index, stream.shot(first, count, before, after))
            except Exception as exc:  # noqa: BLE001 - sent back, raised there
                answer = ("error", index, _portable(exc))
            _write(outbox, answer)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError that names it."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def main() -> None:
    """Entry point of the child. Ctrl-C reaches the whole process group: the parent decides
    when the child ends (it closes the pipe, or kills it), so the child ignores it rather
    than print a second traceback. A parent that went away ends it quietly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel_in, channel_out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print from a library must not corrupt the channel
    try:
        serve(channel_in, channel_out)
    except (BrokenPipeError, ConnectionResetError):
        pass


if __name__ == "__main__":
    main()
