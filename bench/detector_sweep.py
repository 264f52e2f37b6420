"""The motion detector on randomised generated scenes: impacts on their exact frame, false
impacts, and continuous-event IoU, per frame rate.

Each scene is 4 s with two events (fall, hit, slide or pass-by at random places and lengths),
a textured or a flat gradient background, a pan of 0, 0.8 or 1.5 px a frame, at one of six
rates from 23.976 to 59.94; encoded (mp4v) and read back at the pipeline's analysis width, so
compression is in the pictures as it is in real media. Seeded: the same scenes every run.

    python bench/detector_sweep.py [--scenes 60] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import numpy as np

from sonicvision.server.detect.motion import MotionDetector
from sonicvision.server.frames import read_frames
from sonicvision.server.options import FoleyOptions
from sonicvision.server.synthetic_scenes import GroundTruth, ObjectSpec, SceneSpec, render_scene

RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001)]
RATES += [Fraction(50), Fraction(60000, 1001)]


def scene(rng: random.Random, seed: int) -> SceneSpec:
    rate = rng.choice(RATES)
    fps = float(rate)
    n = int(fps * 4)
    objects = []
    t = int(0.3 * fps)
    for _ in range(2):
        kind = rng.choice(["fall", "hit", "slide", "pass"])
        length = int(fps * rng.uniform(0.4, 0.8))
        if t + length + int(0.5 * fps) >= n:
            break
        objects.append(ObjectSpec(kind, t, t + length, x=rng.uniform(0.2, 0.7)))
        t += length + int(0.5 * fps)
    return SceneSpec(
        rng.choice([320, 256]),
        180,
        rate,
        n,
        background=rng.choice(["gradient", "texture"]),
        camera_pan_px_per_frame=rng.choice([0, 0.8, 1.5]),
        objects=objects,
        seed=seed,
    )


def score(truth: GroundTruth, frames: np.ndarray, tally: list) -> None:
    detection = MotionDetector().detect(frames, truth.rate)
    found = [iv.onset for iv in detection.intervals if not iv.continuous]
    tally[0] += sum(e.onset_frame in found for e in truth.impacts)
    tally[1] += len(truth.impacts)
    tally[2] += max(0, len(found) - len(truth.impacts))
    active = np.zeros(truth.frames, bool)
    for iv in detection.intervals:
        if iv.continuous:
            active[iv.onset : iv.end] = True
    for e in truth.continuous:
        expected = np.zeros(truth.frames, bool)
        expected[e.onset_frame : e.end_frame] = True
        tally[3].append((expected & active).sum() / max(1, (expected | active).sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    width = FoleyOptions().analysis_width
    per_rate: dict[float, list] = defaultdict(lambda: [0, 0, 0, []])
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.scenes):
            spec = scene(rng, k)
            truth = render_scene(spec, Path(tmp) / f"scene{k}.mp4")
            frames = read_frames(truth.path, 0, truth.frames, width)
            score(truth, frames, per_rate[round(float(spec.rate), 3)])
    print(f"{args.scenes} scenes in {time.perf_counter() - started:.0f} s")
    print(f"{'rate':>7} {'impacts exact':>14} {'false impacts':>14} {'continuous IoU':>15}")
    total = [0, 0, 0, []]
    for rate, (exact, impacts, false, ious) in sorted(per_rate.items()):
        iou = f"{np.mean(ious):.2f}" if ious else "-"
        print(f"{rate:7.3f} {f'{exact}/{impacts}':>14} {false:>14} {iou:>15}")
        total = [total[0] + exact, total[1] + impacts, total[2] + false, total[3] + ious]
    iou = f"{np.mean(total[3]):.2f}" if total[3] else "-"
    print(f"{'all':>7} {f'{total[0]}/{total[1]}':>14} {total[2]:>14} {iou:>15}")


if __name__ == "__main__":
    main()
