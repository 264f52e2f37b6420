"""The timestamp detector's effect, with the project's code: trained vs predicting "silent".

Generated clips with their own sound (objects falling onto a floor; a click on each contact
frame, as a production recording would have it) are written as ``NAME.mp4`` + ``NAME.wav``;
``train_detector`` (``sonicvision train detector``: labels from the audio by eq. 7-8, weighted
BCE, Adam) trains a small R(2+1)D on them, seeded. On unseen clips it prints per-frame
accuracy, frame AP, onset AP and IoU beside the baseline that says "silent" everywhere, and
how many frames early or late each unseen contact is found.

    python bench/detector_effect.py            # ~10 min on 2 CPU cores
    python bench/detector_effect.py --quick    # a few minutes
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import soundfile as sf
import torch

from sonicvision.server.detect.r2plus1d import runs
from sonicvision.server.models.r2plus1d import (
    DetectorConfig,
    frame_logits,
    load_checkpoint,
    sigmoid,
)
from sonicvision.server.synthetic_scenes import ObjectSpec, SceneSpec, render_scene
from sonicvision.server.train.detector import (
    LabelOptions,
    TrainConfig,
    evaluate,
    find_videos,
    load_clips,
    train_detector,
)

RATE = 25
SR = 16_000


def clicks(onsets: list[int], n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """A decaying noise click (40 ms) on each contact frame, silence elsewhere."""
    audio = np.zeros(int(n_frames / RATE * SR), np.float32)
    n = int(0.04 * SR)
    for frame in onsets:
        burst = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.006 * SR))
        i = round(frame / RATE * SR)
        audio[i : i + n] += 0.5 * burst[: audio.size - i]
    return audio


def make_videos(folder: Path, count: int, seed: int, frames: int = 48) -> list[list[int]]:
    """``count`` clips of two falls each at random times and places, with their clicks."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    contacts = []
    for k in range(count):
        a = int(rng.integers(2, 14))
        b = a + int(rng.integers(4, 10))
        a2 = int(rng.integers(b, 30))
        b2 = min(frames - 2, a2 + int(rng.integers(4, 10)))
        objects = [
            ObjectSpec("fall", a, b, x=float(rng.uniform(0.15, 0.4))),
            ObjectSpec("fall", a2, b2, x=float(rng.uniform(0.6, 0.85))),
        ]
        background = ("gradient", "texture")[k % 2]
        spec = SceneSpec(
            96, 64, RATE, frames, objects=objects, background=background, seed=seed + k
        )
        truth = render_scene(spec, folder / f"fall{k:03d}.mp4")
        onsets = [e.onset_frame for e in truth.impacts]
        sf.write(folder / f"fall{k:03d}.wav", clicks(onsets, frames, rng), SR)
        contacts.append(onsets)
    return contacts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (tiny ops: 1 is fastest)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    n_train, n_test, epochs = (24, 8, 15) if args.quick else (96, 24, 40)
    detector = DetectorConfig(width=16, frame_size=48, window=24, overlap=8)
    started = time.perf_counter()
    with TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_videos(root / "train", n_train, args.seed)
        truth = make_videos(root / "test", n_test, args.seed + 10_000)
        train = TrainConfig(epochs=epochs, batch_size=8, lr=1e-3, pretrained="none", seed=args.seed)
        torch.manual_seed(args.seed)
        reports = train_detector(
            root / "train", root / "ckpt", detector=detector, train=train, device=args.device
        )
        model = load_checkpoint(root / "ckpt")
        clips, _ = load_clips(find_videos(root / "test"), detector.frame_size, LabelOptions())
        trained = evaluate(model, clips)
        labels = np.concatenate([c.labels for c in clips])
        errors: list[int] = []
        missed = extra = 0
        for clip, onsets in zip(clips, truth, strict=True):
            probs = sigmoid(frame_logits(model, np.asarray(clip.frames), detector))
            found = [s for s, _ in runs(probs > detector.threshold)]
            for onset in onsets:
                near = [f - onset for f in found if abs(f - onset) <= 3]
                if near:
                    errors.append(min(near, key=abs))
                else:
                    missed += 1
            extra += sum(all(abs(f - o) > 3 for o in onsets) for f in found)

    silent = float(np.mean(~labels))
    print(
        f"{'quick' if args.quick else 'full'} run, seed {args.seed}: {n_train} training clips, "
        f"{n_test} unseen, {epochs} epochs ({reports[-1].step} steps, batch 8, lr 1e-3), "
        f"R(2+1)D width {detector.width} at {detector.frame_size} px, "
        f"{time.perf_counter() - started:.0f} s on {args.device}"
    )
    print("| predictor | frame accuracy | frame AP | onset AP | IoU |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| trained detector | {trained.accuracy:.3f} | {trained.frame_ap:.2f} | "
        f"{trained.onset_ap:.2f} | {trained.iou:.2f} |"
    )
    print(f'| "silent" everywhere | {silent:.3f} | {labels.mean():.2f} | 0.00 | 0.00 |')
    shifts = ", ".join(f"{k:+d}: {errors.count(k)}" for k in sorted(set(errors)))
    print(
        f"unseen contacts: {len(errors)} of {len(errors) + missed} found within 3 frames "
        f"(frames early(-)/late(+): {shifts or 'none'}); {extra} detections away from a contact"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
