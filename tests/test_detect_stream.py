"""Detection frame by frame: a clip's frames streamed once, a result per shot, the same
numbers as detecting each shot alone; and the worker that runs it beside the decode."""

from __future__ import annotations

import signal
import sys
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from sonicvision.events import Shot
from sonicvision.server.detect import motion
from sonicvision.server.detect.base import BufferedStream, Detection, Detector, FrameStream
from sonicvision.server.detect.child import DetectorProcessError, can_spawn
from sonicvision.server.detect.motion import MotionDetector
from sonicvision.server.detect.worker import DetectionWorker, _ClipWatch
from sonicvision.server.frames import MediaInfo, read_frames
from sonicvision.server.synthetic_scenes import ObjectSpec, SceneSpec, render_frames, render_scene


def _scene(rate: float = 25.0, width: int = 320, height: int = 180) -> np.ndarray:
    def f(seconds: float) -> int:
        return int(round(seconds * rate))

    spec = SceneSpec(
        width=width,
        height=height,
        rate=rate,
        frames=f(4.0),
        camera_pan_px_per_frame=20 / rate,
        objects=[
            ObjectSpec("fall", f(0.3), f(0.8), x=0.2),
            ObjectSpec("slide", f(1.4), f(2.2), x=0.3, distance=0.2),
            ObjectSpec("hit", f(2.6), f(3.0), x=0.7, distance=0.3),
        ],
        seed=3,
    )
    return render_frames(spec)


def _same(a: Detection, b: Detection) -> None:
    assert a.intervals == b.intervals
    np.testing.assert_array_equal(a.activity, b.activity)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.notes == b.notes


def test_stream_gives_each_shot_what_detect_gives_it_alone():
    frames = _scene()
    detector = MotionDetector()
    shots = [(0, 31), (31, 40), (71, len(frames) - 71)]  # boundaries inside events too
    stream = detector.stream(25.0)
    pushed = 0
    for first, count in shots:
        # The scan learns of a cut a few frames late: the next shot's frames are already in.
        while pushed < min(len(frames), first + count + 3):
            stream.push(frames[pushed])
            pushed += 1
        alone = detector.detect(frames[first : first + count], 25.0)
        _same(stream.shot(first, count), alone)
    assert any(iv.motion == "impact" for iv in detector.detect(frames, 25.0).intervals)


def test_a_60_fps_stream_gives_each_shot_what_detect_gives_it_alone():
    # Small objects at 59.94 fps are found against the frames two away (objects.stride): a
    # shot's first and last two frames have none of their own, with or without the stream.
    rate = 60000 / 1001

    def f(seconds: float) -> int:
        return int(round(seconds * rate))

    falls = [
        ObjectSpec("fall", f(0.2), f(0.2) + f(0.3), x=0.3, distance=0.6, size=0.04),
        ObjectSpec("fall", f(1.0), f(1.0) + f(0.3), x=0.7, distance=0.6, size=0.04),
    ]
    spec = SceneSpec(256, 144, rate, f(1.8), camera_pan_px_per_frame=-1.0, objects=falls)
    frames = render_frames(spec)
    detector = MotionDetector()
    # The first shot ends a frame after a landing, the third starts a frame before one.
    landings = [fall.stop for fall in falls]
    shots = [(0, landings[0] + 2), (landings[0] + 2, landings[1] - landings[0] - 3)]
    shots.append((landings[1] - 1, len(frames) - landings[1] + 1))
    stream = detector.stream(rate)
    pushed = 0
    for first, count in shots:
        while pushed < min(len(frames), first + count + 3):
            stream.push(frames[pushed])
            pushed += 1
        _same(stream.shot(first, count), detector.detect(frames[first : first + count], rate))
    whole = detector.detect(frames, rate)
    assert [iv.onset for iv in whole.intervals if not iv.continuous] == landings


def test_results_do_not_depend_on_pictures_of_another_size_measured_before(monkeypatch):
    # OpenCV's flow object lowers its finest scale for a tiny picture and keeps it lowered:
    # reused after one, it gave other results (a flaky pipeline test caught it, after the
    # tiny-picture tests had run). Each size gets its own.
    frames = _scene()
    tiny = np.random.default_rng(0).integers(0, 256, (6, 16, 40, 3), dtype=np.uint8)
    detector = MotionDetector()
    monkeypatch.setattr(motion, "_local", threading.local())  # no flow object exists yet
    alone = detector.detect(frames, 25.0)
    monkeypatch.setattr(motion, "_local", threading.local())
    detector.detect(tiny, 25.0)
    _same(detector.detect(frames, 25.0), alone)


def test_stream_refuses_what_it_cannot_answer():
    frames = _scene()[:10]
    stream = MotionDetector().stream(25.0)
    for frame in frames[:6]:
        stream.push(frame)
    with pytest.raises(ValueError, match="not in the stream"):
        stream.shot(0, 8)  # frames 6 and 7 were never pushed
    stream.shot(0, 4)
    with pytest.raises(ValueError, match="not in the stream"):
        stream.shot(0, 4)  # already answered and forgotten
    with pytest.raises(ValueError, match="shape"):
        stream.push(frames[0][:, :100])
    with pytest.raises(ValueError, match="rate"):
        MotionDetector().stream(0.0)


class _Recording(Detector):
    """Remembers the frames each detect() was given."""

    name = "recording"

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def detect(self, frames: np.ndarray, rate: float) -> Detection:
        self.seen.append(frames)
        n = len(frames)
        return Detection(np.zeros(n, bool), [], np.zeros(n, np.float32), [f"{rate}"])


def test_buffered_stream_hands_each_shot_its_own_frames():
    frames = np.arange(12 * 4 * 4 * 3, dtype=np.uint8).reshape(12, 4, 4, 3)
    detector = _Recording()
    stream = detector.stream(24.0)
    assert isinstance(stream, BufferedStream)
    for frame in frames[:7]:
        stream.push(frame)
    stream.shot(0, 5)
    for frame in frames[7:]:
        stream.push(frame)
    stream.shot(5, 4)
    stream.shot(9, 3)
    for seen, (a, b) in zip(detector.seen, [(0, 5), (5, 9), (9, 12)], strict=True):
        np.testing.assert_array_equal(seen, frames[a:b])
    with pytest.raises(ValueError, match="not in the stream"):
        stream.shot(5, 4)


def _info(rate: int = 25) -> MediaInfo:
    return MediaInfo(
        path=Path("clip.mp4"),
        rate=float(rate),
        rate_exact=Fraction(rate),
        frame_count=100,
        width=320,
        height=180,
        duration_s=100 / rate,
        is_vfr=False,
        is_still=False,
        stream_rate=Fraction(rate),
        time_base=Fraction(1, rate),
        start_pts=0,
    )


def _shot(index: int, first: int, count: int) -> Shot:
    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    span = tr(rt(first, 25), rt(count, 25))
    return Shot(
        index=index,
        clip_name="clip",
        media_path=None,
        source_range=span,
        record_range=span,
        track_name="V1",
        first_frame=first,
        frame_count=count,
        media_rate=25.0,
    )


def test_worker_measures_beside_the_caller_and_returns_every_shot():
    frames = _scene()
    detector = MotionDetector()
    with DetectionWorker(detector, depth=4) as worker:
        watch = worker(_info(), 10, len(frames))  # the clip's scan starts at media frame 10
        for frame in frames:
            watch.frame(frame)
        watch.shot(_shot(0, 10, 40))
        watch.shot(_shot(1, 50, 1))  # one frame: nothing to measure, no result
        watch.shot(_shot(2, 51, len(frames) - 41))
        results = worker.collect()
    assert sorted(results) == [0, 2]
    _same(results[0], detector.detect(frames[:40], 25.0))
    _same(results[2], detector.detect(frames[41:], 25.0))


class _Broken(Detector):
    name = "broken"

    def detect(self, frames: np.ndarray, rate: float) -> Detection:
        raise AssertionError("not used")

    def stream(self, rate: float) -> FrameStream:
        class Failing(BufferedStream):
            def push(self, frame: np.ndarray) -> None:
                raise RuntimeError("frame 0 could not be measured")

        return Failing(self, rate)


def test_worker_raises_a_failed_measurement_with_the_shot_that_needed_it():
    with DetectionWorker(_Broken(), depth=2) as worker:
        watch = worker(_info(), 0, 5)
        for _ in range(5):  # the bounded queue must not lock up after a failure
            watch.frame(np.zeros((8, 8, 3), np.uint8))
        watch.shot(_shot(0, 0, 5))
        with pytest.raises(RuntimeError, match="could not be measured"):
            worker.collect()


# --- in a child process -------------------------------------------------------------------


def test_a_long_clip_is_measured_in_a_child_process_with_the_same_numbers():
    frames = _scene()
    detector = MotionDetector()
    with DetectionWorker(detector, depth=4, child_from_s=1.0) as worker:
        watch = worker(_info(), 0, len(frames))
        assert worker._child is not None, "a 4 s clip over a 1 s threshold goes to a child"
        for frame in frames:
            watch.frame(frame)
        watch.shot(_shot(0, 0, 50))
        watch.shot(_shot(1, 50, len(frames) - 50))
        results = worker.collect()
    _same(results[0], detector.detect(frames[:50], 25.0))
    _same(results[1], detector.detect(frames[50:], 25.0))
    assert worker._child._process.poll() == 0, "the child ended cleanly"


def test_a_short_clip_stays_in_this_process():
    with DetectionWorker(MotionDetector(), child_from_s=20.0) as worker:
        worker(_info(), 0, 25 * 19)
        assert worker._child is None


def test_an_error_in_the_child_is_raised_here():
    frames = _scene()[:12]
    with DetectionWorker(MotionDetector(), depth=4, child_from_s=0.0) as worker:
        watch = worker(_info(), 0, 12)
        for frame in frames[:6]:
            watch.frame(frame)
        watch.frame(frames[6][:, :100])  # a frame of another size
        for frame in frames[7:]:
            watch.frame(frame)
        watch.shot(_shot(0, 0, 12))
        with pytest.raises(ValueError, match="frame of shape"):
            worker.collect()


def test_a_child_that_dies_is_reported_not_waited_for():
    frames = _scene()[:12]
    with pytest.raises(DetectorProcessError, match="stopped before answering"):
        with DetectionWorker(MotionDetector(), depth=4, child_from_s=0.0) as worker:
            watch = worker(_info(), 0, 12)
            worker._child._process.kill()
            for frame in frames:
                watch.frame(frame)
            watch.shot(_shot(0, 0, 12))
            worker.collect()


def test_no_child_inside_an_editor_or_a_frozen_app(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/Applications/DaVinci Resolve/Resolve")
    assert not can_spawn()
    with DetectionWorker(MotionDetector(), child_from_s=0.0) as worker:
        assert isinstance(worker(_info(), 0, 100), _ClipWatch)
    monkeypatch.setattr(sys, "executable", r"C:\Python312\python.exe")
    assert can_spawn()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert not can_spawn()


def test_ctrl_c_is_the_parents_to_handle_not_the_childs():
    frames = _scene()[:20]
    with DetectionWorker(MotionDetector(), depth=4, child_from_s=0.0) as worker:
        watch = worker(_info(), 0, 20)
        for frame in frames[:10]:
            watch.frame(frame)
        worker._child._process.send_signal(signal.SIGINT)  # the terminal's Ctrl-C reaches both
        for frame in frames[10:]:
            watch.frame(frame)
        watch.shot(_shot(0, 0, 20))
        assert sorted(worker.collect()) == [0]


# --- context: the frames of the same take around a shot -----------------------------------


def _landing(folder: Path) -> tuple[FrameStream, int, int]:
    """A fall at 25 fps (encoded and read back) pushed whole into a stream; the frame it lands
    on, and how many frames there are."""
    spec = SceneSpec(rate=25.0, frames=50, objects=[ObjectSpec("fall", 5, 20, x=0.4)], seed=1)
    truth = render_scene(spec, folder / "fall.mp4")
    (landing,) = [e.onset_frame for e in truth.impacts]
    stream = MotionDetector().stream(25.0)
    for frame in read_frames(truth.path, 0, truth.frames, 256):
        stream.push(frame)
    return stream, landing, truth.frames


def _impacts(detection: Detection) -> list[int]:
    return [iv.onset for iv in detection.intervals if not iv.continuous]


@pytest.mark.parametrize("before", [3, 0])
def test_a_shot_that_starts_on_the_impact_finds_it_with_the_frames_before(tmp_path, before):
    # A cut on action: the editor's in point is the contact frame.
    stream, landing, n = _landing(tmp_path)
    found = _impacts(stream.shot(landing, n - landing, before=before))
    assert found == ([0] if before else []), found


@pytest.mark.parametrize("after", [3, 0])
def test_a_shot_that_ends_on_the_impact_finds_it_with_the_frames_after(tmp_path, after):
    stream, landing, _ = _landing(tmp_path)
    found = _impacts(stream.shot(0, landing + 1, after=after))
    assert found == ([landing] if after else []), found


def test_context_reports_nothing_outside_the_shot(tmp_path):
    stream, landing, _ = _landing(tmp_path)
    # The landing is in the context before the shot: it is not this shot's sound.
    detection = stream.shot(landing + 1, 20, before=3)
    assert _impacts(detection) == [] and detection.activity.shape == (20,)


def test_the_fast_evidence_helpers_give_numpy_s_numbers():
    """The walking rule's ends of a moving region (quartiles read off the sorted rows) and
    the camera's per-pixel flow (single precision without the stacking copy) against the
    general numpy code they replace, on random regions and models."""
    from types import SimpleNamespace

    from sonicvision.server.detect.camera import camera_flow
    from sonicvision.server.detect.evidence import _ends

    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:90, 0:160].astype(np.float32)
    for _ in range(40):
        moving = rng.random((90, 160)) < rng.uniform(0.001, 0.3)
        velocity = rng.normal(0, 1, (90, 160, 2)).astype(np.float32)
        ys, xs = np.nonzero(moving)
        lo, hi = np.percentile(ys, (25, 75))
        v = velocity[ys, xs]
        want = tuple(map(tuple, (v[ys >= hi].mean(axis=0), v[ys <= lo].mean(axis=0))))
        assert _ends(SimpleNamespace(moving=moving, velocity=velocity)) == want
        model = np.eye(2, 3) + rng.normal(0, 0.02, (2, 3))
        fx = model[0, 0] * x + model[0, 1] * y + model[0, 2] - x
        fy = model[1, 0] * x + model[1, 1] * y + model[1, 2] - y
        want_flow = np.stack([fx, fy], axis=-1).astype(np.float32)
        np.testing.assert_array_equal(camera_flow(model, x, y), want_flow)
