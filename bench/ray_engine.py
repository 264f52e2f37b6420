"""Local vs the ray engine on one machine: x real time of analysis and of whole jobs, the
per-task overhead, and that the results are the same bytes.

A multi-clip timeline (real footage: clips of Big Buck Bunny from the shared fixtures; or
generated scenes with ``--generated``) runs as a job three ways: the local engine, Ray with 1
worker process (``num_cpus=1``) and Ray with 2. Per-task overhead: a no-op Ray task's round
trip, and (Ray with 1 worker - local) analysis time per clip.

    python bench/ray_engine.py                 # real footage, 6 clips of 8 s (~2 min, 2 cores)
    python bench/ray_engine.py --generated     # 8 generated clips
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import opentimelineio as otio
import ray

from sonicvision.adapters.io import read_timeline
from sonicvision.adapters.media import MediaResolver
from sonicvision.server.options import FoleyOptions
from sonicvision.server.pipeline import scan_picture
from sonicvision.server.service.engine import RayEngine
from sonicvision.server.service.spec import JobSpec, run_pipeline
from sonicvision.server.testing.cuts import many_clips

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
BBB = Path("/work/shared/fixtures/media/bbb_first_300s.mp4")  # CC-BY Blender Foundation


def bbb_timeline(folder: Path, clips: int, seconds: float) -> Path:
    """``clips`` pieces of Big Buck Bunny, ``seconds`` each, 30 s apart (read in place)."""
    rate = 24
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    for n in range(clips):
        track.append(
            otio.schema.Clip(
                name=f"bbb{n}",
                media_reference=otio.schema.ExternalReference(target_url=BBB.as_uri()),
                source_range=TR(RT(round((10 + 30 * n) * rate), rate), RT(seconds * rate, rate)),
            )
        )
    timeline = otio.schema.Timeline(name="bbb")
    timeline.tracks.append(track)
    path = folder / "many.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


def job(runner, timeline: Path, roots: list[Path], out: Path) -> tuple[float, list[bytes]]:
    out.mkdir()
    spec = JobSpec(timeline_name=timeline.name, options=FoleyOptions(media_roots=roots, seed=1))
    started = time.perf_counter()
    result = runner(spec, timeline, out, lambda *a: None)
    seconds = time.perf_counter() - started
    text = result.output.read_text().replace(str(out.resolve()), "OUT").replace(str(out), "OUT")
    return seconds, [text.encode()] + [c.path.read_bytes() for c in result.clips]


def analysis(scan, timeline: Path, roots: list[Path]) -> float:
    parsed = read_timeline(timeline)
    resolver = MediaResolver(timeline, roots, [], confine=True)
    started = time.perf_counter()
    scan(parsed, resolver, FoleyOptions(media_roots=roots, seed=1), lambda *a: None)
    return time.perf_counter() - started


def noop_round_trip(n: int = 50) -> float:
    task = ray.remote(num_cpus=1)(lambda: 0)
    ray.get(task.remote())  # a worker is up
    started = time.perf_counter()
    ray.get([task.remote() for _ in range(n)])
    return (time.perf_counter() - started) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generated", action="store_true", help="generated scenes, not BBB")
    ap.add_argument("--clips", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=8.0, help="BBB: seconds per clip")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.generated:
            clips = args.clips or 8
            timeline = many_clips(folder, clips, frames=100, size=(320, 180))
            roots = [folder]
        else:
            clips = args.clips or 6
            timeline = bbb_timeline(folder, clips, args.seconds)
            roots = [BBB.parent, folder]
        picture_s = read_timeline(timeline).duration().to_seconds()
        rows = {}
        local_job, local_bytes = job(run_pipeline, timeline, roots, folder / "local")
        local_s = analysis(scan_picture, timeline, roots)
        rows["local"] = {"analysis_s": local_s, "job_s": local_job}
        same = {}
        for workers in (1, 2):
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     _node_ip_address="127.0.0.1")  # fmt: skip
            try:
                engine = RayEngine()
                overhead = noop_round_trip()
                seconds, data = job(engine.runner(), timeline, roots, folder / f"ray{workers}")
                rows[f"ray x{workers}"] = {
                    "analysis_s": analysis(engine.scan, timeline, roots),
                    "job_s": seconds,
                    "noop_task_ms": overhead * 1e3,
                }
                same[f"ray x{workers}"] = {
                    "timeline": data[0] == local_bytes[0],
                    "wavs": data[1:] == local_bytes[1:],
                    "clips": len(data) - 1,
                }
            finally:
                ray.shutdown()
        base = rows["local"]["analysis_s"]
        for row in rows.values():
            row["analysis_x_realtime"] = picture_s / row["analysis_s"]
            row["job_x_realtime"] = picture_s / row["job_s"]
            row["analysis_speedup"] = base / row["analysis_s"]
        per_task = (rows["ray x1"]["analysis_s"] - base) / clips
        source = "generated" if args.generated else BBB.name
        print(f"{clips} clips, {picture_s:.1f} s of picture ({source})")
        heads = ("analysis s", "x RT", "speed-up", "job s", "x RT")
        print(f"{'engine':8} " + " ".join(f"{h:>10}" for h in heads))
        keys = ("analysis_s", "analysis_x_realtime", "analysis_speedup", "job_s")
        keys += ("job_x_realtime",)
        for name, row in rows.items():
            print(f"{name:8} " + " ".join(f"{row[k]:10.2f}" for k in keys))
        print(
            f"no-op Ray task round trip: {rows['ray x1']['noop_task_ms']:.2f} ms; "
            f"analysis overhead per clip task (ray x1 - local): {per_task * 1e3:.0f} ms"
        )
        print(f"same timeline (result folder named OUT) and WAV bytes as local: {same}")
        print(json.dumps({"clips": clips, "picture_s": picture_s, "rows": rows, "same": same}))


if __name__ == "__main__":
    main()
