"""Detectors that misbehave on purpose, for the server's watchdog and cancel tests.

They live in the package (not the tests) so a detector child process can import them.
"""

from __future__ import annotations

import time

import numpy as np

from sonicvision.server.detect.base import Detection, Detector, FrameStream


class StuckStream(FrameStream):
    def push(self, frame: np.ndarray) -> None:
        time.sleep(3600)  # a decoder library that never returns

    def shot(self, first: int, count: int, before: int = 0, after: int = 0) -> Detection:
        time.sleep(3600)
        raise AssertionError("unreachable")


class StuckDetector(Detector):
    """Takes the first frame and never returns."""

    name = "stuck"

    def detect(self, frames: np.ndarray, rate: float) -> Detection:
        time.sleep(3600)
        raise AssertionError("unreachable")

    def stream(self, rate: float) -> FrameStream:
        return StuckStream()

    def for_child(self) -> Detector:
        return self
