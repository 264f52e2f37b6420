"""Benchmark of the embedded pipeline: speed against PySceneDetect alone, and timing accuracy.

Speed: a generated 1080p 24 fps clip (default 64 s) with falls, hits, slides and a pan. Printed:
PySceneDetect's cut detection alone (its own decode, ContentDetector, auto-downscale), our whole
analysis (shots + motion detection + descriptions, one decode), and the full foley job, each as
seconds and x real time, with the ratio analysis / cut detection. Same process, same file.

Accuracy: the paper's timing metrics (onset acc, AP, time acc, IoU) of the rendered on-screen
track on generated cuts at 23.976, 25 and 29.97 fps (01:00:00:00 start, cuts inside clips, pan).

    python bench/embedded.py [--seconds 64] [--repeats 3] [--skip-speed] [--skip-accuracy]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
from scenedetect import ContentDetector, detect

from sonicvision.adapters.media import MediaResolver
from sonicvision.server.options import FoleyOptions
from sonicvision.server.pipeline import find_events, foley
from sonicvision.server.synthetic_scenes import ObjectSpec, SceneSpec, render_scene

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


def long_clip(folder: Path, seconds: float, rate: int = 24) -> tuple[Path, int]:
    frames = int(seconds * rate)
    objects = []
    for start in range(10, frames - 60, 90):  # an event every ~4 s, alternating kinds
        kind = ("fall", "hit", "slide", "pass")[(start // 90) % 4]
        stop = start + (16 if kind in ("fall", "hit") else 30)
        objects.append(ObjectSpec(kind, start, stop, x=0.2 + 0.15 * ((start // 90) % 4)))
    spec = SceneSpec(
        1920, 1080, rate, frames, camera_pan_px_per_frame=0.8, objects=objects, cut_at=[frames // 2]
    )
    path = folder / "long_1080p.mp4"
    render_scene(spec, path)
    return path, frames


def speed(seconds: float, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        path, frames = long_clip(folder, seconds)
        print(f"made {frames} frames of 1080p24 in {time.perf_counter() - t:.1f} s")
        tl = otio.schema.Timeline(name="bench")
        tl.global_start_time = RT(86400, 24)
        track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
        track.append(
            otio.schema.Clip(
                name="long",
                media_reference=otio.schema.ExternalReference(target_url=path.name),
                source_range=TR(RT(0, 24), RT(frames, 24)),
            )
        )
        tl.tracks.append(track)
        cut = folder / "bench.otio"
        otio.adapters.write_to_file(tl, str(cut))
        duration = frames / 24

        # Alternate the two, several times: the machine's other load moves both alike.
        scd_runs, ana_runs = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            scenes = detect(str(path), ContentDetector())
            scd_runs.append(time.perf_counter() - t)
            t = time.perf_counter()
            result = find_events(tl, MediaResolver(cut), FoleyOptions())
            ana_runs.append(time.perf_counter() - t)
        scd, ana = statistics.median(scd_runs), statistics.median(ana_runs)
        t = time.perf_counter()
        job = foley(cut, folder / "out.otio", FoleyOptions())
        full = time.perf_counter() - t
        print(f"clip: {duration:.1f} s of 1080p 24 fps")
        print(f"{'stage':<34} {'seconds':>8} {'x real time':>12}")
        row = "{:<34} {:8.2f} {:12.1f}   ({})"
        print(
            row.format(
                "PySceneDetect cut detection alone", scd, duration / scd, f"{len(scenes)} scenes"
            )
        )
        print(
            f"{'analysis (shots+detect+describe)':<34} {ana:8.2f} {duration / ana:12.1f}   "
            f"({len(result.shots)} shots, {sum(e.onscreen for e in result.events)} events)"
        )
        print(
            row.format(
                "full foley job (with rendering)", full, duration / full, f"{len(job.clips)} clips"
            )
        )
        print(f"ratio analysis / cut detection alone: {ana / scd:.2f}")
        print(
            f"(medians of {repeats} alternating runs; cut detection "
            f"{min(scd_runs):.2f}-{max(scd_runs):.2f} s, analysis "
            f"{min(ana_runs):.2f}-{max(ana_runs):.2f} s)"
        )


def accuracy() -> None:
    from sonicvision.server.evaluate import ExpectedEvent, evaluate_timeline
    from sonicvision.server.testing.cuts import cut_with_events

    print(f"{'rate':>8} {'onset acc':>10} {'onset AP':>9} {'time acc':>9} {'IoU':>6} {'events':>7}")
    for rate in (Fraction(24000, 1001), Fraction(25), Fraction(30000, 1001)):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            cut, expected = cut_with_events(folder, rate)
            job = foley(cut, folder / "out.otio", FoleyOptions(seed=1))
            exp = [ExpectedEvent(e["onset_s"], e["end_s"], e["continuous"]) for e in expected]
            r = evaluate_timeline(otio.adapters.read_from_file(str(job.output)), exp, float(rate))
            cells = (float(rate), r.onset_acc, r.onset_ap, r.time_acc, r.iou, len(exp))
            print("{:8.3f} {:10.2f} {:9.2f} {:9.2f} {:6.2f} {:7d}".format(*cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=64.0)
    parser.add_argument("--repeats", type=int, default=3, help="speed runs (median)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    if not args.skip_accuracy:
        accuracy()
    if not args.skip_speed:
        speed(args.seconds, args.repeats)


if __name__ == "__main__":
    main()
