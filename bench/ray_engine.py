"""Local vs the ray engine on one machine: x real time of analysis, of rendering and of whole
jobs, the per-task and per-batch overhead, and that the results are the same bytes.

A multi-clip timeline (real footage: clips of Big Buck Bunny from the shared fixtures; or
generated scenes with ``--generated``) runs as a job three ways: the local engine, Ray with 1
worker process (``num_cpus=1``) and 1 render actor, and Ray with 2 of each. Per-task overhead:
a no-op Ray task's round trip, and (Ray with 1 worker - local) analysis time per clip. Then a
render-heavy job (the render pass over ``--sfx`` prompt markers of ``--sfx-seconds`` each, on
the same timeline: no analysis, all rendering) the same three ways, each run twice (the
second with the actors up and their models warm); per-batch overhead: (Ray x1 - local) warm
render time per batch of 32, and a no-op actor call's round trip.

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
from sonicvision.server.service.engine import RayEngine, RenderActor
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


WORDS = ["door slams", "footsteps on gravel", "glass breaks", "dog barks", "rain", "whoosh"]


def with_prompts(timeline: Path, count: int, seconds: float) -> Path:
    """``timeline`` with ``count`` SFX prompt markers of ``seconds``, spread over its length."""
    parsed = otio.adapters.read_from_file(str(timeline))
    track = parsed.video_tracks()[0]
    rate = track.duration().rate
    step = max(0.0, parsed.duration().to_seconds() - seconds) / max(1, count - 1)
    for n in range(count):
        at = TR(RT(round(n * step * rate), rate), RT(round(seconds * rate), rate))
        track.markers.append(otio.schema.Marker(name=f"SFX: {WORDS[n % 6]}", marked_range=at))
    path = timeline.with_name("sfx.otio")
    otio.adapters.write_to_file(parsed, str(path))
    return path


def job(
    runner, timeline: Path, roots: list[Path], out: Path, job_pass: str = "foley"
) -> tuple[float, list[bytes]]:
    out.mkdir(parents=True)
    options = FoleyOptions(media_roots=roots, seed=1)
    spec = JobSpec(job_pass=job_pass, timeline_name=timeline.name, options=options)
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


def actor_round_trip(n: int = 50) -> float:
    actor = ray.remote(num_cpus=0)(RenderActor).remote()
    ray.get(actor.who.remote())  # the actor is up
    started = time.perf_counter()
    ray.get([actor.who.remote() for _ in range(n)])
    seconds = (time.perf_counter() - started) / n
    ray.kill(actor)
    return seconds


def render_runs(runner, sfx: Path, roots: list[Path], out: Path) -> tuple[float, float, list]:
    """The render pass twice: cold (first) and warm (second) seconds, and the warm bytes."""
    cold, _ = job(runner, sfx, roots, out / "cold", "render")
    warm, data = job(runner, sfx, roots, out / "warm", "render")
    return cold, warm, data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generated", action="store_true", help="generated scenes, not BBB")
    ap.add_argument("--clips", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=8.0, help="BBB: seconds per clip")
    ap.add_argument("--sfx", type=int, default=128, help="render job: prompt markers")
    ap.add_argument("--sfx-seconds", type=float, default=1.0, help="render job: seconds each")
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
        sfx = with_prompts(timeline, args.sfx, args.sfx_seconds)
        sound_s = args.sfx * args.sfx_seconds
        rows = {}
        local_job, local_bytes = job(run_pipeline, timeline, roots, folder / "local")
        local_s = analysis(scan_picture, timeline, roots)
        cold, warm, sfx_bytes = render_runs(run_pipeline, sfx, roots, folder / "local_sfx")
        rows["local"] = {"analysis_s": local_s, "job_s": local_job, "render_cold_s": cold,
                         "render_s": warm}  # fmt: skip
        same = {}
        for workers in (1, 2):
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     _node_ip_address="127.0.0.1")  # fmt: skip
            try:
                engine = RayEngine(render_actors=workers)
                overhead = noop_round_trip()
                where = folder / f"ray{workers}_sfx"  # first: cold includes the actors' start
                cold, warm, rendered = render_runs(engine.runner(), sfx, roots, where)
                seconds, data = job(engine.runner(), timeline, roots, folder / f"ray{workers}")
                rows[f"ray x{workers}"] = {
                    "analysis_s": analysis(engine.scan, timeline, roots),
                    "job_s": seconds,
                    "render_cold_s": cold,
                    "render_s": warm,
                    "noop_task_ms": overhead * 1e3,
                    "noop_actor_call_ms": actor_round_trip() * 1e3,
                    "actor_pids": sorted({w["pid"] for w in engine.rendered}),
                }
                same[f"ray x{workers}"] = {
                    "timeline": data[0] == local_bytes[0],
                    "wavs": data[1:] == local_bytes[1:],
                    "clips": len(data) - 1,
                    "render_timeline": rendered[0] == sfx_bytes[0],
                    "render_wavs": rendered[1:] == sfx_bytes[1:],
                    "render_clips": len(rendered) - 1,
                }
                engine.close()
            finally:
                ray.shutdown()
        base = rows["local"]["analysis_s"]
        for row in rows.values():
            row["analysis_x_realtime"] = picture_s / row["analysis_s"]
            row["job_x_realtime"] = picture_s / row["job_s"]
            row["analysis_speedup"] = base / row["analysis_s"]
            row["render_x_realtime"] = sound_s / row["render_s"]
            row["render_speedup"] = rows["local"]["render_s"] / row["render_s"]
        per_task = (rows["ray x1"]["analysis_s"] - base) / clips
        batches = -(-args.sfx // 32)
        per_batch = (rows["ray x1"]["render_s"] - rows["local"]["render_s"]) / batches
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
        print(f"render job: {args.sfx} prompts of {args.sfx_seconds:g} s ({sound_s:.0f} s of "
              f"sound, {batches} batches of 32), procedural; warm = the second run")  # fmt: skip
        heads = ("cold s", "warm s", "x RT", "speed-up")
        print(f"{'engine':8} " + " ".join(f"{h:>10}" for h in heads))
        keys = ("render_cold_s", "render_s", "render_x_realtime", "render_speedup")
        for name, row in rows.items():
            print(f"{name:8} " + " ".join(f"{row[k]:10.2f}" for k in keys))
        print(
            f"no-op actor call round trip: {rows['ray x1']['noop_actor_call_ms']:.2f} ms; "
            f"render overhead per batch (ray x1 - local, warm): {per_batch * 1e3:.0f} ms"
        )
        print(f"same timeline (result folder named OUT) and WAV bytes as local: {same}")
        summary = {"clips": clips, "picture_s": picture_s, "sound_s": sound_s, "rows": rows}
        print(json.dumps({**summary, "per_batch_s": per_batch, "same": same}))


if __name__ == "__main__":
    main()
