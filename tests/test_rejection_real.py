"""Each rejection rule on real footage: an excerpt that needs it, and what it gives without it.

Every test reads a short excerpt of the shared media (read-only; Big Buck Bunny (c) Blender
Foundation, CC-BY 3.0, see the media's NOTICE.md) and checks both sides: the detector as it
ships puts no cue there, and with the rule that catches it switched off (where several rules
overlap, the set of them, named in the test) the same excerpt does get one, so the test fails
if the rule stops working or the excerpt stops showing the problem. Frame numbers are the
file's 0-based picture frames (see bench/labels/bbb_first_300s.contacts.json).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from sonicvision.server.detect import motion, reject
from sonicvision.server.detect.base import Detection
from sonicvision.server.detect.motion import MotionConfig, MotionDetector
from sonicvision.server.frames import probe, read_frames
from sonicvision.server.synthetic_scenes import ObjectSpec, SceneSpec, render_frames, render_scene

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "media"
if not MEDIA.exists():
    MEDIA = Path("/work/shared/fixtures/media")
BBB = "bbb_first_300s.mp4"
BASE = MotionConfig()
NO_PERIODIC = replace(BASE, periodic_reversals=10**6)
# The soft-stop rule comes after the others (reject.impact_verdict): each rule's "without"
# turns it off too, so that what the excerpt shows is that rule's own work.
NO_SOFT = replace(BASE, impact_soft=0.0)
NO_REGION = replace(NO_SOFT, impact_region=1.0)
# approach() is a share of the arrival speed and can be negative: 0 does not switch it off.
NO_APPROACH = replace(NO_SOFT, impact_approach=-1e9)
NO_SLIDE = replace(BASE, slide_coherence=0.0, slide_area=1.0, slide_scattered=1.0)
# A pass-by (or slide) need not cross: the travel rule off.
NO_CROSSING = replace(BASE, passby_travel=0.0, slide_straight=0.0)
# Walking (reject.walks) reads its speeds at passby_speed: with that at 0 it is switched off too.
NO_WALKING = replace(BASE, gait_frames=10**6)
NO_PASSBY = replace(NO_CROSSING, passby_area=0.0, passby_speed=0.0, gait_frames=10**6)


def _excerpt(name: str, first: int, count: int) -> tuple[np.ndarray, float]:
    """Frames ``first .. first + count - 1`` of a shared file, 256 wide, and its rate."""
    path = MEDIA / name
    frames = read_frames(path, first, count, 256)
    assert len(frames) == count, f"{name}: {len(frames)} of {count} frames from {first}"
    return frames, float(probe(path).rate)


def _detect(frames: np.ndarray, rate: float, config: MotionConfig = BASE) -> Detection:
    return MotionDetector(config, threads=1).detect(frames, rate)


def _impacts(det: Detection, first: int) -> list[int]:
    return [first + iv.onset for iv in det.intervals if not iv.continuous]


def _continuous(det: Detection, first: int) -> list[tuple[int, int, str]]:
    return [(first + iv.onset, first + iv.end, iv.motion) for iv in det.intervals if iv.continuous]


def _verdicts(det: Detection, first: int) -> dict[int, str]:
    return {first + c.onset: c.verdict for c in det.candidates}


def _near(frames: list[int], frame: int, reach: int = 1) -> bool:
    return any(abs(f - frame) <= reach for f in frames)


def _no_camera_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The camera's motion is not taken out: every pixel's flow counts as its own motion."""
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    monkeypatch.setattr(motion, "camera_model", lambda flow, textured: identity)


def _caught_by(
    first: int,
    count: int,
    frame: int,
    verdict: str,
    off: MotionConfig,
    shipped_as: MotionConfig = BASE,
) -> None:
    """BBB ``first .. first + count - 1``: as shipped (``shipped_as``: the rules that turn it
    down before this one off) no impact, the candidate at ``frame`` turned down as
    ``verdict``; with ``off`` an impact there."""
    frames, rate = _excerpt(BBB, first, count)
    shipped = _detect(frames, rate, shipped_as)
    assert not _impacts(shipped, first), _impacts(shipped, first)
    assert _verdicts(shipped, first).get(frame) == verdict, _verdicts(shipped, first)
    assert shipped.rejected.get(verdict, 0) >= 1
    without = _detect(frames, rate, off)
    assert _near(_impacts(without, first), frame), "the excerpt no longer shows the problem"


# --- wing flaps ------------------------------------------------------------------------------


def test_a_butterfly_fluttering_by_a_tree_is_no_impact():
    """BBB 2911-2958: a butterfly flutters at the tree trunk beside Bunny; its wings reverse
    at 2930, 2935 and 2957 and touch nothing (the soundtrack there is score)."""
    # Only the periodic rule catches 2935 (2930 is also a large region, 2957 has no steady
    # approach).
    _caught_by(2911, 48, 2935, "periodic", NO_PERIODIC)


def test_a_butterfly_flying_past_bunny_is_no_impact():
    """BBB 2647-2694: a butterfly flaps past Bunny's face; wing reversals at 2667 and 2677,
    no contact. The periodic and the steady-approach rules both catch them: both are off."""
    frames, rate = _excerpt(BBB, 2647, 48)
    shipped = _detect(frames, rate)
    assert not _impacts(shipped, 2647), _impacts(shipped, 2647)
    assert shipped.rejected.get("periodic", 0) >= 2
    # Periodic alone off: the steady-approach rule still turns both down.
    only_periodic = _detect(frames, rate, NO_PERIODIC)
    assert not _impacts(only_periodic, 2647)
    assert only_periodic.rejected.get("no steady approach", 0) >= 2
    without = _detect(frames, rate, replace(NO_PERIODIC, impact_approach=-1e9))
    found = _impacts(without, 2647)
    assert _near(found, 2667) and _near(found, 2677), "the excerpt no longer shows the problem"


def test_a_small_butterfly_beating_by_a_squirrel_is_no_impact():
    """BBB 3205-3252: a butterfly a few pixels wide beats its wings beside the squirrel's head
    (a beat every 4-5 frames); its down-stroke halts at 3229. At flow size the back-stroke
    reads at a third of the down-stroke's speed: counted only at the impact speed (the rule's
    old floor), it was one stroke, and an impact."""
    _caught_by(3205, 48, 3229, "periodic", replace(NO_SOFT, periodic_speed=BASE.impact_speed))


# --- faces and gestures ----------------------------------------------------------------------


def test_a_face_in_extreme_close_up_is_no_impact():
    """BBB 6803-6850: Bunny's face fills the frame, war paint on; his brow and eyes move and
    halt at 6827 (12% of the frame moving), nothing touches anything.

    (The Haar face rule is off: this OpenCV has no cascades; the large-region rule is what
    catches the face, at a confidence of 0.88 without it.)"""
    _caught_by(6803, 48, 6827, "large region", NO_REGION)


def test_a_head_turn_is_no_impact():
    """BBB 5943-5990: Bunny, head and shoulders, turns his head and halts at 5967: a gesture
    that starts and stops within a few frames, no contact.

    The periodic rule turns it down first (the head turns one way and back, and back); with
    that rule off, the steady-approach rule does."""
    _caught_by(5943, 48, 5967, "periodic", replace(NO_APPROACH, periodic_reversals=10**6))
    _caught_by(
        5943,
        48,
        5967,
        "no steady approach",
        replace(NO_APPROACH, periodic_reversals=10**6),
        NO_PERIODIC,
    )


# --- soft stops: motion easing out, not something that struck --------------------------------


def test_a_soft_stop_is_no_impact():
    """BBB 3109 (the squirrel's mouth closes as he chews) and 4442 (Bunny's arm comes to rest
    after a throw): each place arrived steadily and halted, losing 0.21-0.23 widths/s, with
    no harder stop before it there. Nothing struck anything. (The arm also swung back and
    forth before it came to rest: the periodic rule turns it down first.)"""
    _caught_by(3085, 48, 3109, "soft stop", NO_SOFT)
    _caught_by(4418, 45, 4442, "periodic", replace(NO_SOFT, periodic_reversals=10**6))
    _caught_by(4418, 45, 4442, "soft stop", replace(NO_SOFT, periodic_reversals=10**6), NO_PERIODIC)


def test_a_car_slowing_behind_a_fence_is_no_impact():
    """bikes 137-186: a car drives behind a railing and slows (0.19 widths/s lost at 172):
    a soft stop, the only false impact the live-action clips had left."""
    frames, rate = _excerpt("bikes.mp4", 137, 50)
    shipped = _detect(frames, rate)
    assert not _impacts(shipped, 137), _impacts(shipped, 137)
    assert _verdicts(shipped, 137).get(172) == "soft stop", _verdicts(shipped, 137)
    without = _detect(frames, rate, NO_SOFT)
    assert _near(_impacts(without, 137), 172), "the excerpt no longer shows the problem"


# --- camera motion ---------------------------------------------------------------------------


def test_a_shaking_camera_over_a_talking_head_is_no_impact(monkeypatch):
    """carphone 0-29: a man talks in a car, the hand-held camera shakes (up to 0.15 widths/s):
    speech and a shaking camera, no contact.

    With the camera model (camera.py) the head's motion is small and nothing stops; without
    it the whole head seems to halt at frame 9 (and to shake back and forth), which the
    periodic and large-region rules also turn down: all are off for the impact."""
    frames, rate = _excerpt("carphone_pristine.mp4", 0, 30)
    shipped = _detect(frames, rate)
    assert not _impacts(shipped, 0) and not shipped.candidates, _verdicts(shipped, 0)
    _no_camera_model(monkeypatch)
    no_camera = _detect(frames, rate)
    assert not _impacts(no_camera, 0)
    assert _verdicts(no_camera, 0).get(9) == "periodic"
    no_periodic = _detect(frames, rate, NO_PERIODIC)
    assert _verdicts(no_periodic, 0).get(9) == "large region"
    without = _detect(frames, rate, replace(NO_REGION, periodic_reversals=10**6))
    assert _near(_impacts(without, 0), 9), "the excerpt no longer shows the problem"


# --- transitions -----------------------------------------------------------------------------


def test_the_fade_to_black_is_no_cue():
    """BBB 7130-7200: Bunny raises his stick while the picture fades to black (7165-7181, the
    share of black 0.13 -> 1): a fade and a slow gesture, no contact.

    No impact candidate here (nor in the opening fade-in, 0-48), so the transition rule has
    nothing to judge: the slide rules are what keep the fading motion from a 'slide' cue."""
    frames, rate = _excerpt(BBB, 7130, 71)
    shipped = _detect(frames, rate)
    assert not shipped.intervals, _continuous(shipped, 7130)
    assert not shipped.candidates
    assert shipped.rejected.get("not contact motion", 0) >= 1
    without = _detect(frames, rate, NO_SLIDE)
    runs = _continuous(without, 7130)
    assert any(a <= 7165 and b >= 7180 for a, b, _ in runs), "the excerpt no longer shows it"


def _iris_out(frames: np.ndarray, start: int, end: int) -> np.ndarray:
    """``frames`` closed by a black circle shrinking from the corners (``start``) to a point
    (``end``), as the film's own iris-outs do."""
    out = frames.copy()
    h, w = frames.shape[1:3]
    reach = np.hypot(w, h) / 2
    for t in range(len(frames)):
        share = float(np.clip((t - start) / (end - start), 0.0, 1.0))
        mask = np.zeros((h, w), np.uint8)
        cv2.circle(mask, (w // 2, h // 2), int(reach * (1 - share)), 1, -1)
        out[t] *= mask[..., None]
    return out


def test_an_iris_out_over_real_footage_is_no_impact(monkeypatch):
    """BBB 1998-2021 with an iris-out drawn over frames 2006-2016 (the first 300 s have none
    of their own): the closing circle's edge halts at 2015; an iris makes no sound."""
    frames, rate = _excerpt(BBB, 1998, 24)
    closed = _iris_out(frames, 8, 18)
    shipped = _detect(closed, rate)
    assert not shipped.intervals, (_impacts(shipped, 1998), _continuous(shipped, 1998))
    assert _verdicts(shipped, 1998).get(2015) == "transition"
    assert shipped.rejected.get("transition", 0) >= 1
    monkeypatch.setattr(reject, "is_transition", lambda *args, **kwargs: False)
    without = _detect(closed, rate)
    assert _near(_impacts(without, 1998), 2015), "the excerpt no longer shows the problem"


def test_a_slower_iris_out_over_real_footage_is_no_pass_by(monkeypatch):
    """BBB 1998-2021 with a slower iris-out (frames 2004-2018): its closing edge sweeps the
    frame like a large thing passing close by, and read as a pass-by; an iris is silent.
    (Closing on the centre, it crosses nothing either: the crossing rule is off below, so
    the test shows what the transition rule does alone.)"""
    frames, rate = _excerpt(BBB, 1998, 24)
    closed = _iris_out(frames, 6, 20)
    shipped = _detect(closed, rate)
    assert not shipped.intervals, (_impacts(shipped, 1998), _continuous(shipped, 1998))
    assert shipped.rejected.get("transition", 0) >= 1
    assert _detect(closed, rate, NO_CROSSING).rejected.get("transition", 0) >= 1
    monkeypatch.setattr(reject, "is_transition", lambda *args, **kwargs: False)
    without = _detect(closed, rate, NO_CROSSING)
    assert _continuous(without, 1998), "the excerpt no longer shows the problem"


def test_a_flashing_picture_is_no_transition():
    """The rule's levels: BBB 4701-4707, where a stone lands on a butterfly and the picture
    flashes white, brighter and darker by turns (measured by the detector: 150, 147, 138,
    158, 131, 157, 137) is no fade, as a steady fade or an iris is; without the rule that a
    transition keeps what it gains, the flash read as one (4 of its 6 steps go its net way)."""
    from types import SimpleNamespace

    def evidence(level, dark=None):
        level = np.asarray(level, float)
        return SimpleNamespace(level=level, dark=np.zeros_like(level) if dark is None else dark)

    flash = evidence([150.0, 147.3, 137.9, 158.0, 131.2, 156.7, 136.6])
    assert not reject.is_transition(flash, 3)
    assert reject.is_transition(evidence([150.0, 140, 128, 117, 103, 92, 80]), 3)  # a fade
    dark = np.array([0.1, 0.15, 0.22, 0.3, 0.41, 0.5, 0.62])  # an iris closing
    assert reject.is_transition(evidence([90.0] * 7, dark), 3)
    steps = np.diff(flash.level)
    assert abs(flash.level[-1] - flash.level[0]) >= 12.0  # what the rule looked at before
    assert np.mean(np.sign(steps) == np.sign(flash.level[-1] - flash.level[0])) >= 0.65


# --- rolling credits (generated: the film's first 300 s have none) ---------------------------

_CREDITS = (
    "DIRECTED BY",
    "Jane Example",
    "MUSIC",
    "John Sample",
    "ANIMATION",
    "A. Person",
    "B. Person",
    "LIGHTING",
    "C. Person",
    "SOUND",
    "D. Person",
    "THANKS",
    "Everyone",
)


def _rolling_credits(frames: int = 72, px_per_frame: int = 2, w: int = 256, h: int = 144):
    """White names on black rolling up at a constant ``px_per_frame`` (48 px/s at 24 fps)."""
    step = 24
    roll = np.zeros((2 * h + step * len(_CREDITS), w, 3), np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i, line in enumerate(_CREDITS):
        width = cv2.getTextSize(line, font, 0.5, 1)[0][0]
        origin = ((w - width) // 2, h + step * i)
        cv2.putText(roll, line, origin, font, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return np.stack([roll[t * px_per_frame : t * px_per_frame + h] for t in range(frames)])


def test_rolling_credits_are_no_cue():
    """Generated: 3 s of credits rolling up 2 px a frame: text moving, nothing touching.

    No impact candidate at all; the rolling text enters at the frame's edge and reads as a
    pass-by, which the pass-by rule turns down (small and slow)."""
    frames = _rolling_credits()
    shipped = _detect(frames, 24.0)
    assert not shipped.intervals, _continuous(shipped, 0)
    assert not shipped.candidates
    assert shipped.rejected.get("small or slow pass-by", 0) >= 1
    without = _detect(frames, 24.0, NO_PASSBY)
    runs = _continuous(without, 0)
    assert any(m == "pass-by" and b - a >= 36 for a, b, m in runs), "no longer shows it"


# --- generated counterparts of the flow impact rules (no generated case existed) -------------


def _block_moving(size: tuple[int, int], path, frames: int = 30) -> np.ndarray:
    """A textured block ``size`` (w, h) at ``path(t)`` (its corner) on a textured ground."""
    rng = np.random.default_rng(4)
    ground = cv2.GaussianBlur(rng.integers(40, 220, (144, 256, 3), dtype=np.uint8), (0, 0), 1.5)
    w, h = size
    block = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 1.5)
    out = []
    for t in range(frames):
        picture = ground.copy()
        x, y = path(t)
        picture[y : y + h, x : x + w] = block
        out.append(picture)
    return np.stack(out)


def test_generated_a_large_region_halting_is_no_impact_a_small_one_is():
    """Generated: a block 90 x 70 (17% of the frame; a close-up head) glides right and halts
    at frame 15: turned down; the same motion of a 30 x 24 block (2%) is an impact."""
    large = _block_moving((90, 70), lambda t: (20 + 6 * min(t, 15), 30))
    shipped = _detect(large, 24.0)
    assert not _impacts(shipped, 0) and _verdicts(shipped, 0) == {15: "large region"}
    assert _impacts(_detect(large, 24.0, NO_REGION), 0) == [15], "no longer shows the rule"
    small = _block_moving((30, 24), lambda t: (20 + 6 * min(t, 15), 30))
    assert _impacts(_detect(small, 24.0), 0) == [15]


def test_generated_a_jerk_without_an_approach_is_no_impact_a_steady_arrival_is():
    """Generated: a block at rest jumps 8 px a frame for two frames and halts at 15 (a
    gesture that starts and stops): turned down; three frames of arrival are an impact."""
    jerk = _block_moving((40, 30), lambda t: (60 + 8 * min(max(t - 13, 0), 2), 60))
    shipped = _detect(jerk, 24.0)
    assert not _impacts(shipped, 0) and _verdicts(shipped, 0) == {15: "no steady approach"}
    assert _impacts(_detect(jerk, 24.0, NO_APPROACH), 0) == [15], "no longer shows the rule"
    steady = _block_moving((40, 30), lambda t: (60 + 8 * min(max(t - 12, 0), 3), 60))
    assert _impacts(_detect(steady, 24.0), 0) == [15]


def test_generated_a_slow_drop_is_no_impact_unless_it_is_a_rebound(tmp_path):
    """Generated: a ball lowered 12% of the height in 10 frames lands at frame 14, losing
    0.25 widths/s: a soft stop on its own, turned down. A ball dropped half the height lands
    hard at 36 and bounces; its second landing at 44 is as soft, but the rebound of the hard
    one at the same place: kept. Without the rebound clause it goes too."""
    spec = SceneSpec(
        rate=24,
        frames=60,
        objects=[
            ObjectSpec("fall", 4, 14, x=0.3, distance=0.12),
            ObjectSpec("fall", 24, 36, x=0.7, distance=0.5, bounce=8),
        ],
        seed=3,
    )
    gt = render_scene(spec, tmp_path / "drops.mp4")
    assert [e.onset_frame for e in gt.impacts] == [14, 36, 44]
    frames = read_frames(gt.path, 0, gt.frames, width=256)
    shipped = _detect(frames, 24.0)
    assert _impacts(shipped, 0) == [36, 44]
    assert _verdicts(shipped, 0)[14] == "soft stop"
    soft = {c.onset: float(np.exp(c.features["log_decel"])) for c in shipped.candidates}
    assert soft[14] < BASE.impact_soft and soft[44] < BASE.impact_soft < soft[36], soft
    no_rebound = _detect(frames, 24.0, replace(BASE, rebound_s=0.0))
    assert _impacts(no_rebound, 0) == [36]
    assert _impacts(_detect(frames, 24.0, NO_SOFT), 0) == [14, 36, 44], "no longer shows it"


# --- slides that go nowhere ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "count", "what"),
    [(378, 175, "a bird bobbing on its branch as it sings"), (2040, 114, "Bunny bending down")],
)
def test_motion_about_one_place_is_no_slide(first: int, count: int, what: str):
    """BBB 378-552: the bird sways, bobs and flaps on its branch as it sings; 2040-2153: Bunny
    bends down for the apple and straightens up. Rigid enough, from rest to rest, steady: each
    passed as a 'slide' until the motion had to go somewhere, one way."""
    frames, rate = _excerpt(BBB, first, count)
    shipped = _detect(frames, rate)
    assert not _continuous(shipped, first), _continuous(shipped, first)
    assert shipped.rejected.get("goes nowhere", 0) >= 1, shipped.rejected
    without = _detect(frames, rate, replace(BASE, slide_travel=0.0, slide_straight=0.0))
    slides = [r for r in _continuous(without, first) if r[2] == "slide"]
    assert slides, "the excerpt no longer shows the problem"


def test_generated_a_block_circling_in_place_is_no_slide_one_going_somewhere_is():
    """Generated: a block rests, goes once round a circle 20 px across (easing in and out, no
    stop on the way: a body swaying), rests where it began; its path is 63 px. The same block
    moving 48 px one way slides."""

    def ease(t: int) -> float:
        k = min(max(t - 8, 0), 24)  # moving on frames 8-32
        return (1 - np.cos(np.pi * k / 24)) / 2

    def circling(t: int) -> tuple[int, int]:
        a = 2 * np.pi * ease(t)
        return 100 + int(round(10 * np.sin(a))), 70 + int(round(10 * (1 - np.cos(a))))

    sway = _block_moving((30, 24), circling, frames=44)
    shipped = _detect(sway, 24.0)
    assert not _continuous(shipped, 0), _continuous(shipped, 0)
    assert shipped.rejected == {"goes nowhere": 1}, shipped.rejected
    off = replace(BASE, slide_travel=0.0, slide_straight=0.0)
    assert [r[2] for r in _continuous(_detect(sway, 24.0, off), 0)] == ["slide"], "no rule shown"
    one_way = _block_moving((30, 24), lambda t: (100 + int(round(48 * ease(t))), 80), frames=44)
    assert [r[2] for r in _continuous(_detect(one_way, 24.0), 0)] == ["slide"]


# --- a pass-by crosses (MotionConfig.passby_travel) -----------------------------------------


def test_a_character_ducking_out_of_the_frame_is_no_pass_by():
    """Big Buck Bunny 4069-4118: Bunny ducks down out of the frame's bottom as a nut flies
    over (4080-4089): large and fast at the frame's edge, but it crosses nothing (its motion
    adds up to 0.04 of the width, a third of its path)."""
    first = 4069
    frames, rate = _excerpt(BBB, first, 50)
    shipped = _detect(frames, rate)
    assert not _continuous(shipped, first), _continuous(shipped, first)
    assert shipped.rejected.get("goes nowhere", 0) >= 1, shipped.rejected
    without = _detect(frames, rate, NO_CROSSING)
    runs = [r for r in _continuous(without, first) if r[2] == "pass-by"]
    assert any(a <= 4084 < b for a, b, _ in runs), ("the excerpt no longer shows it", runs)


def test_generated_a_large_thing_in_and_back_out_of_one_edge_is_no_pass_by():
    """Generated: a pass-by's object comes in from the left edge, slows, turns and goes back
    out the same edge (the crossing's frames played forward and back on a sine, no stop); the
    same object crossing the frame is a pass-by."""
    spec = SceneSpec(rate=25.0, frames=200, objects=[ObjectSpec("pass", 1, 161)])
    crossing = render_frames(spec)
    # (Frame index along the crossing: out to 80 and back over 24 frames, still before and after.)
    index = [int(round(80 * np.sin(np.pi * min(max(t - 5, 0), 24) / 24))) for t in range(36)]
    peek = crossing[index]
    shipped = _detect(peek, 25.0)
    assert not _continuous(shipped, 0), _continuous(shipped, 0)
    assert shipped.rejected == {"goes nowhere": 1}, shipped.rejected
    off = _detect(peek, 25.0, NO_CROSSING)
    assert [r[2] for r in _continuous(off, 0)] == ["pass-by"], "no rule shown"
    across = SceneSpec(rate=25.0, frames=50, objects=[ObjectSpec("pass", 10, 30)])
    assert [r[2] for r in _continuous(_detect(render_frames(across), 25.0), 0)] == ["pass-by"]


# --- a pass-by does not walk (MotionConfig.gait_planted, gait_frames) ----------------------


def test_a_walker_passing_close_to_the_lens_is_no_pass_by():
    """bikes.mp4 187-241: a pedestrian's legs cross the frame close to the lens (188-216):
    large, fast and one way, a pass-by by size and speed; but a foot stays planted on three
    frames while the coat above goes on. Locomotion is footsteps or nothing."""
    first = 187
    frames, rate = _excerpt("bikes.mp4", first, 55)
    shipped = _detect(frames, rate)
    assert not _continuous(shipped, first), _continuous(shipped, first)
    assert shipped.rejected.get("walking", 0) >= 1, shipped.rejected
    runs = [r for r in _continuous(_detect(frames, rate, NO_WALKING), first) if r[2] == "pass-by"]
    assert any(a <= 200 < b for a, b, _ in runs), ("the excerpt no longer shows it", runs)


def _legs_passing(walking: bool, v: float = 9.0, period: int = 12, seed: int = 2) -> np.ndarray:
    """Two legs close to the lens under a coat's hem, crossing left to right at ``v`` px a
    frame. Walking, each foot stays planted for ``period - 5`` frames and swings ahead over
    5 (the other half a period later); not walking, the legs are rigid bars. Legs are
    textured along themselves (a perspective warp), grey on grey so the picture's level
    holds."""
    rng = np.random.default_rng(seed)
    w, h, swing, hip_y, foot_y = 256, 144, 5, 40.0, 138.0
    bg = cv2.GaussianBlur(rng.uniform(120, 220, (h, w)).astype(np.float32), (0, 0), 2)
    cloth = cv2.GaussianBlur(rng.uniform(60, 280, (128, 32)).astype(np.float32), (0, 0), 1.5)
    coat = cv2.GaussianBlur(rng.uniform(60, 280, (24, 64)).astype(np.float32), (0, 0), 1.5)
    x0, stance = -40.0, period - swing

    def foot(t: int, phase: int) -> float:
        stride, k = divmod(t + phase, period)
        planted = x0 + v * (stride * period - phase + stance / 2)
        ahead = (1 - np.cos(np.pi * (k - stance + 1) / swing)) / 2 * period * v
        return planted if k < stance else planted + ahead

    def paste(img: np.ndarray, texture: np.ndarray, corners: list[list[float]]) -> np.ndarray:
        th, tw = texture.shape
        src = np.float32([[0, 0], [tw - 1, 0], [tw - 1, th - 1], [0, th - 1]])
        m = cv2.getPerspectiveTransform(src, np.float32(corners))
        mask = cv2.warpPerspective(np.ones_like(texture), m, (w, h))
        return img * (1 - mask) + cv2.warpPerspective(texture, m, (w, h))

    out = []
    for t in range(40):
        img, body = bg.copy(), x0 + v * t
        for phase, dx in ((0, -10), (period // 2, 10)):
            hx = body + dx
            fx = foot(t, phase) + dx if walking else hx
            legs = [[hx - 13, hip_y], [hx + 13, hip_y], [fx + 13, foot_y], [fx - 13, foot_y]]
            img = paste(img, cloth, legs)
        img = paste(img, coat, [[body - 32, 0], [body + 31, 0], [body + 31, 46], [body - 32, 46]])
        out.append(cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR))
    return np.stack(out)


def test_generated_legs_walking_past_are_no_pass_by_rigid_ones_are():
    """Generated: legs crossing close to the lens, feet planted in turn, are no pass-by; the
    same legs as rigid bars (a thing carried past) are one."""
    walking = _legs_passing(walking=True)
    shipped = _detect(walking, 25.0)
    assert not _continuous(shipped, 0), _continuous(shipped, 0)
    assert shipped.rejected == {"walking": 1}, shipped.rejected
    assert [r[2] for r in _continuous(_detect(walking, 25.0, NO_WALKING), 0)] == ["pass-by"]
    rigid = _detect(_legs_passing(walking=False), 25.0)
    assert [r[2] for r in _continuous(rigid, 0)] == ["pass-by"], rigid.rejected
