"""Synthetic scenes with known events, and the embedded motion detector measured against them."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from sonicvision.server.detect import objects
from sonicvision.server.detect.base import Detection
from sonicvision.server.detect.motion import IMPACT_SPAN_S, MotionConfig, MotionDetector
from sonicvision.server.frames import probe, read_frames
from sonicvision.server.synthetic_scenes import (
    FLOOR_Y,
    ObjectSpec,
    SceneSpec,
    draw_frame_code,
    read_frame_code,
    render_frames,
    render_scene,
)

RATES = [24.0, 25.0, 30000 / 1001, 24000 / 1001, 60000 / 1001]


def _iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def _events_scene(rate: float, pan_px_per_s: float = 30.0, seed: int = 0) -> SceneSpec:
    """A fall with a bounce, a swing into a block, a slide, a pass-by and a second fall, one
    after the other, under a smooth camera pan; objects placed so nothing hides another."""

    def f(seconds: float) -> int:
        return int(round(seconds * rate))

    objects = [
        ObjectSpec("fall", f(0.3), f(0.8), x=0.2, bounce=f(0.35)),
        ObjectSpec("hit", f(1.6), f(2.0), x=0.75, distance=0.3),
        ObjectSpec("slide", f(2.6), f(3.8), x=0.3, distance=0.2),
        ObjectSpec("pass", f(4.2), f(5.0), direction=-1),
        ObjectSpec("fall", f(5.3), f(5.75), x=0.3, distance=0.3),
    ]
    return SceneSpec(
        rate=rate,
        frames=f(6.2),
        camera_pan_px_per_frame=pan_px_per_s / rate,
        objects=objects,
        seed=seed,
    )


# --- scenes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 50.0, 59.94])
def test_scene_reads_back_at_the_asked_rate(tmp_path, rate):
    gt = render_scene(SceneSpec(width=128, height=72, rate=rate, frames=12), tmp_path / "r.mp4")
    info = probe(gt.path)
    expected = {
        24000 / 1001: Fraction(24000, 1001),
        30000 / 1001: Fraction(30000, 1001),
        59.94: Fraction(60000, 1001),
    }.get(rate, Fraction(rate))
    assert info.rate_exact == expected and gt.rate == float(expected)
    assert info.frame_count == 12 and (info.width, info.height) == (128, 72)


def test_ground_truth_lists_the_events(tmp_path):
    rate = 25.0
    gt = render_scene(_events_scene(rate), tmp_path / "events.mp4")
    events = gt.events
    span = round(IMPACT_SPAN_S * rate)
    assert [(e.kind, e.onset_frame, e.end_frame, e.continuous, e.label) for e in events] == [
        ("fall", 20, 20 + span, False, "impact"),
        ("fall", 29, 29 + span, False, "impact"),
        ("hit", 50, 50 + span, False, "impact"),
        ("slide", 65, 95, True, "slide"),
        ("pass", 105, 125, True, "pass-by"),
        ("fall", 144, 144 + span, False, "impact"),
    ]
    assert gt.frames == 155 and gt.cuts == []
    activity = gt.activity()
    assert activity.sum() == 4 * span + 30 + 20 and activity[65:95].all() and not activity[60]


def _changed(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.abs(a.astype(int) - b.astype(int)).max() > 0)


def test_impact_frame_is_the_first_frame_at_rest():
    # Without pan or grain, nothing changes once an object is at rest.
    spec = SceneSpec(
        width=160,
        height=90,
        rate=25,
        frames=40,
        objects=[ObjectSpec("fall", 5, 15, x=0.3), ObjectSpec("hit", 20, 30, x=0.7)],
    )
    frames = render_frames(spec)
    for stop in (15, 30):
        assert _changed(frames[stop - 1], frames[stop]), "the object arrives at the stop frame"
        assert not _changed(frames[stop], frames[stop + 1]), "and rests from then on"
    assert not _changed(frames[3], frames[4]) and _changed(frames[4], frames[5])


def test_fall_lands_on_the_floor_and_bounces_once():
    spec = SceneSpec(width=160, height=90, rate=25, frames=40, background="gradient")
    ball = ObjectSpec("fall", 5, 15, x=0.5, bounce=8)
    empty = render_frames(spec)
    frames = render_frames(replace(spec, objects=[ball]))
    floor = int(FLOOR_Y * 90)

    def bottom(t: int) -> int:
        rows = np.flatnonzero(np.abs(frames[t].astype(int) - empty[t]).max(axis=(1, 2)) > 40)
        return int(rows.max())

    assert abs(bottom(15) - floor) <= 1 and abs(bottom(23) - floor) <= 1
    assert bottom(19) < floor - 1  # in the air between the two contacts
    assert not _changed(frames[23], frames[24])


def test_slide_and_pass_spans_are_the_frames_that_move():
    spec = SceneSpec(width=160, height=90, rate=25, frames=60)
    slide = render_frames(replace(spec, objects=[ObjectSpec("slide", 10, 30, x=0.3)]))
    moving = [t for t in range(1, 60) if _changed(slide[t - 1], slide[t])]
    assert moving == list(range(10, 30))

    empty = render_frames(spec)
    passing = render_frames(replace(spec, objects=[ObjectSpec("pass", 35, 50)]))
    visible = [t for t in range(60) if _changed(empty[t], passing[t])]
    assert visible == list(range(35, 50))


def test_cut_switches_the_look_and_pan_moves_the_background():
    spec = SceneSpec(width=160, height=90, rate=25, frames=20, cut_at=[10])
    frames = render_frames(spec).astype(int)
    assert np.abs(frames[10] - frames[9]).mean() > 20
    assert np.abs(frames[9] - frames[8]).max() == 0
    panned = render_frames(replace(spec, cut_at=[], camera_pan_px_per_frame=2.0)).astype(int)
    np.testing.assert_allclose(panned[6][:, :-4], panned[5][:, 2:-2], atol=2)


def test_static_shot_has_no_motion_but_grain():
    frames = render_frames(SceneSpec.static(width=64, height=36, frames=5, grain=3.0))
    diff = np.abs(frames[1].astype(int) - frames[0])
    assert 0 < diff.mean() < 6


def test_frame_code_round_trip_at_any_size():
    img = np.full((144, 256, 3), 128, np.uint8)
    for index in (0, 1, 77, 2047, 4095):
        draw_frame_code(img, index)
        assert read_frame_code(img) == index
        small = img[::2, ::2]
        assert read_frame_code(small) == index


@pytest.mark.parametrize(
    "bad",
    [
        dict(width=161),
        dict(background="stars"),
        dict(objects=[ObjectSpec("spin", 1, 5)]),
        dict(objects=[ObjectSpec("fall", 5, 5)]),
        dict(objects=[ObjectSpec("fall", 5, 30)]),  # contact after the last frame
        dict(objects=[ObjectSpec("slide", 5, 10, bounce=3)]),
        dict(cut_at=[0]),
    ],
)
def test_invalid_scene_is_refused(tmp_path, bad):
    spec = replace(SceneSpec(width=160, height=90, frames=20), **bad)
    with pytest.raises(ValueError):
        render_scene(spec, tmp_path / "bad.mp4")
    assert not (tmp_path / "bad.mp4").exists()


# --- the detector ---------------------------------------------------------------------------


def _detect(tmp_path, spec: SceneSpec):
    gt = render_scene(spec, tmp_path / "scene.mp4")
    frames = read_frames(gt.path, 0, gt.frames, width=320)
    return gt, MotionDetector().detect(frames, gt.rate)


def _check_contract(det: Detection, n: int) -> None:
    assert det.activity.shape == (n,) and det.activity.dtype == bool
    assert det.scores is not None and det.scores.shape == (n,)
    for iv in det.intervals:
        assert 0 <= iv.onset < iv.end <= n and 0.0 <= iv.strength <= 1.0
        assert det.activity[iv.onset : iv.end].all()
    covered = np.zeros(n, bool)
    for iv in det.intervals:
        covered[iv.onset : iv.end] = True
    np.testing.assert_array_equal(covered, det.activity)


@pytest.mark.parametrize("rate", RATES, ids=lambda r: f"{r:.3f}")
def test_detector_finds_every_event_under_a_pan(tmp_path, rate):
    gt, det = _detect(tmp_path, _events_scene(rate))
    _check_contract(det, gt.frames)
    impacts = [iv for iv in det.intervals if not iv.continuous]
    continuous = [iv for iv in det.intervals if iv.continuous]

    errors = []
    for event in gt.impacts:
        nearest = min(impacts, key=lambda iv: abs(iv.onset - event.onset_frame), default=None)
        errors.append(None if nearest is None else nearest.onset - event.onset_frame)
    ious = {}
    for event in gt.continuous:
        span = (event.onset_frame, event.end_frame)
        best = max(continuous, key=lambda iv: _iou((iv.onset, iv.end), span), default=None)
        ious[event.label] = (round(_iou((best.onset, best.end), span), 2), best.motion)
    print(f"rate {rate:.3f}: impact onset errors {errors} (frames), continuous {ious}")

    assert all(e is not None and abs(e) <= 1 for e in errors), errors
    assert len(impacts) == len(gt.impacts), [iv.onset for iv in impacts]
    for label, (iou, motion) in ious.items():
        assert iou >= 0.6, (label, iou)
        assert motion == label
    assert len(continuous) == len(gt.continuous)
    span = round(IMPACT_SPAN_S * rate)
    assert all(iv.end - iv.onset == span for iv in impacts)


@pytest.mark.parametrize("background", ["texture", "gradient"])
@pytest.mark.parametrize("rate", [24000 / 1001, 60000 / 1001], ids=["23.976", "59.94"])
def test_static_shot_has_no_events(tmp_path, rate, background):
    spec = SceneSpec.static(rate=rate, frames=int(2.5 * rate), background=background, grain=3.0)
    gt, det = _detect(tmp_path, spec)
    _check_contract(det, gt.frames)
    assert det.intervals == [] and not det.activity.any()


@pytest.mark.parametrize("pan", [0.8, 3.0, -2.0])
@pytest.mark.parametrize("rate", [25.0, 30000 / 1001], ids=["25", "29.97"])
def test_pan_alone_is_not_an_event(tmp_path, rate, pan):
    spec = SceneSpec(rate=rate, frames=int(2.5 * rate), camera_pan_px_per_frame=pan, grain=2.0)
    gt, det = _detect(tmp_path, spec)
    assert det.intervals == [], [(iv.onset, iv.motion) for iv in det.intervals]
    assert np.median(det.scores) < 0.5


@pytest.mark.parametrize("pan", [0.0, -60.0], ids=["still", "pan"])
@pytest.mark.parametrize(
    "rate", [24.0, 50.0, 60000 / 1001, 120.0], ids=["24", "50", "59.94", "120"]
)
def test_a_small_fast_fall_is_found_at_any_frame_rate(rate, pan):
    # A thing 4% of the frame high dropped from 0.6 of the height, the same fall in seconds at
    # every rate: at 24 fps it moves more than its size a frame before it lands, at 50 fps and
    # up less, and three-frame differencing lost it there (no impact at all) until faster
    # footage was sampled every few frames (objects.stride), under a pan too.
    def f(seconds: float) -> int:
        return int(round(seconds * rate))

    landing = f(0.2) + f(0.3)
    fall = ObjectSpec("fall", f(0.2), landing, x=0.4, distance=0.6, size=0.04)
    spec = SceneSpec(
        256, 144, rate, f(0.9), camera_pan_px_per_frame=pan / rate, objects=[fall], grain=2.0
    )
    frames = render_frames(spec)
    found = MotionDetector(threads=1).detect(frames, rate)
    onsets = [iv.onset for iv in found.intervals if not iv.continuous]
    assert len(onsets) == 1 and abs(onsets[0] - landing) <= 1, (onsets, landing)
    flow = MotionDetector(MotionConfig(small_objects=False), threads=1).detect(frames, rate)
    assert not [iv for iv in flow.intervals if not iv.continuous], "the flow finds it alone"


@pytest.mark.parametrize(
    ("rate", "every"),
    [(24000 / 1001, 1), (25.0, 1), (30000 / 1001, 1), (30.0, 1), (48.0, 2), (50.0, 2)]
    + [(60000 / 1001, 2), (60.0, 2), (100.0, 4), (120.0, 4), (10.0, 1)],
)
def test_small_objects_are_sampled_at_film_rates(rate, every):
    assert objects.stride(rate) == every


def test_phases_that_see_one_contact_give_it_once(monkeypatch):
    # 60 fps sampled every 2nd frame: both phases see a thing meet the ground (frames 10 and
    # 11), the second more sharply, the first as one of several reversals there (periodic: a
    # wing beating, say); and a nut elsewhere lands on frame 11 too.
    seen = {
        0: [objects.Contact(5, 0.6, 0.50, 0.80, "stop", True)],
        1: [
            objects.Contact(5, 0.8, 0.52, 0.79, "bounce", False),
            objects.Contact(5, 0.7, 0.90, 0.30, "bounce", False),
        ],
    }
    rates = []

    def phase_contacts(blobs, rate, width, height):
        rates.append(rate)
        return seen[blobs[0]]

    monkeypatch.setattr(objects, "contacts", phase_contacts)
    found = objects.contacts_sampled([0, 1] * 20, 60.0, 256, 144, 2)
    assert rates == [30.0, 30.0]
    assert [(c.t, c.confidence, c.x, c.periodic) for c in found] == [
        (11, 0.8, 0.52, True),
        (11, 0.7, 0.90, False),
    ]


@pytest.mark.parametrize("steady", [0.65, 0.0], ids=["rule", "without"])
def test_a_short_slide_easing_to_rest_is_no_impact(tmp_path, steady):
    # A slide eases out over a few frames: its last frame stops from a third of its speed.
    # Without the rule that a stop must not already be slowing down, that read as an impact.
    spec = SceneSpec(
        320,
        180,
        24,
        96,
        background="gradient",
        camera_pan_px_per_frame=0.8,
        objects=[ObjectSpec("slide", 7, 19, x=0.27, distance=0.5)],
        seed=12,
    )
    gt = render_scene(spec, tmp_path / "slide.mp4")
    frames = read_frames(gt.path, 0, gt.frames, width=256)
    # (Without it the soft-stop rule is off too: the eased stop is soft, a second line.)
    config = MotionConfig(impact_steady=steady, impact_soft=0.4 if steady else 0.0)
    det = MotionDetector(config).detect(frames, gt.rate)
    impacts = [iv.onset for iv in det.intervals if not iv.continuous]
    if steady:
        assert impacts == [], impacts
        assert [iv.motion for iv in det.intervals] == ["slide"]
    else:
        assert impacts, "the scene no longer shows what the rule is for"


@pytest.mark.parametrize("resume", [0.5, 99.0], ids=["rule", "without"])
def test_a_drift_that_stutters_under_a_pan_is_no_impact(tmp_path, resume):
    # 59.94 fps, a pan that the flat background hides: the cup at rest drifts with it, below a
    # pixel a frame, and the codec makes it move in fits. A halt that moves on the same way two
    # frames later is a stutter.
    spec = SceneSpec(
        256,
        180,
        Fraction(60000, 1001),
        239,
        background="gradient",
        camera_pan_px_per_frame=1.5,
        objects=[ObjectSpec("fall", 17, 42, x=0.3), ObjectSpec("hit", 90, 115, x=0.6)],
        seed=5,
    )
    gt = render_scene(spec, tmp_path / "drift.mp4")
    frames = read_frames(gt.path, 0, gt.frames, width=256)
    # Without the rule the periodic and soft-stop rules are off too: they are second lines
    # against a drift read in flickers.
    periodic, soft = (3, 0.4) if resume < 1 else (10**6, 0.0)
    config = MotionConfig(resume_fraction=resume, periodic_reversals=periodic, impact_soft=soft)
    det = MotionDetector(config).detect(frames, gt.rate)
    impacts = [iv.onset for iv in det.intervals if not iv.continuous]
    truth = [e.onset_frame for e in gt.impacts]
    if resume < 1:
        assert impacts == truth, impacts
    else:
        assert set(impacts) > set(truth), "the scene no longer shows what the rule is for"


def test_cut_inside_the_frames_is_no_event_and_is_noted(tmp_path):
    spec = SceneSpec(rate=25, frames=60, cut_at=[30], camera_pan_px_per_frame=1.0)
    gt, det = _detect(tmp_path, spec)
    assert det.intervals == []
    assert any("cut" in note and "30" in note for note in det.notes)


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_very_short_inputs_do_not_fail(n):
    frames = np.random.default_rng(n).integers(0, 256, (n, 90, 160, 3), dtype=np.uint8)
    det = MotionDetector().detect(frames, 25.0)
    _check_contract(det, n)
    assert det.intervals == []


@pytest.mark.parametrize("shape", [(6, 8, 8, 3), (6, 120, 4, 3), (6, 1, 1, 3)])
def test_tiny_pictures_do_not_fail(shape):
    det = MotionDetector().detect(np.zeros(shape, np.uint8), 24.0)
    _check_contract(det, shape[0])
    assert det.intervals == []


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="shape"):
        MotionDetector().detect(np.zeros((4, 90, 160), np.uint8), 25.0)
    with pytest.raises(ValueError, match="rate"):
        MotionDetector().detect(np.zeros((4, 90, 160, 3), np.uint8), 0.0)


def test_detector_name():
    assert MotionDetector.name == "motion"
