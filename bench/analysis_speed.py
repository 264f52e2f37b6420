"""Analysis speed on real footage: shots + motion detection + descriptions, one decode.

    python bench/analysis_speed.py [--media ../shared/fixtures/media/bbb_first_300s.mp4]
                                   [--seconds 60] [--start 0] [--runs 1]

Prints, per run, the wall time, x real time (footage seconds per wall second) and CPU seconds
per footage second (this process and its children: the detector's child process counts).
A one-clip timeline at the file's own rate is built in a temporary folder; nothing is written
beside the media.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import opentimelineio as otio

from sonicvision.adapters.media import MediaResolver
from sonicvision.errors import SonicVisionError
from sonicvision.server.frames import probe
from sonicvision.server.options import FoleyOptions
from sonicvision.server.pipeline import find_events

DEFAULT_MEDIA = (
    Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "media" / "bbb_first_300s.mp4"
)


def one_clip(media: Path, start_s: float, seconds: float | None) -> otio.schema.Timeline:
    info = probe(media)
    rate = float(info.rate_exact)
    first = round(start_s * rate)
    count = info.frame_count - first if seconds is None else round(seconds * rate)
    count = min(count, info.frame_count - first)
    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange  # noqa: N806
    ref = otio.schema.ExternalReference(
        target_url=media.resolve().as_uri(),
        available_range=TR(RT(0, rate), RT(info.frame_count, rate)),
    )
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(
        otio.schema.Clip(
            name=media.stem, media_reference=ref, source_range=TR(RT(first, rate), RT(count, rate))
        )
    )
    timeline = otio.schema.Timeline(name=f"{media.stem} speed")
    timeline.tracks.append(track)
    return timeline


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--media", type=Path, default=DEFAULT_MEDIA)
    p.add_argument("--seconds", type=float, default=60.0, help="footage analysed (0: all)")
    p.add_argument("--start", type=float, default=0.0, help="first second analysed")
    p.add_argument("--runs", type=int, default=1)
    args = p.parse_args(argv)
    timeline = one_clip(args.media, args.start, args.seconds or None)
    footage = timeline.duration().to_seconds()
    with tempfile.TemporaryDirectory() as folder:
        resolver = MediaResolver(Path(folder) / "cut.otio")
        print(f"{args.media.name}: {footage:.1f} s of footage from {args.start:.1f} s")
        for run in range(args.runs):
            wall0, cpu0 = time.perf_counter(), cpu_seconds()
            try:
                found = find_events(timeline, resolver, FoleyOptions())
            except SonicVisionError as exc:
                print(f"run {run + 1}: refused: {exc}")
                return 1
            wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
            print(
                f"run {run + 1}: {wall:.2f} s wall, {footage / wall:.2f}x real time, "
                f"{cpu / footage:.3f} CPU s per footage s; {len(found.shots)} shots, "
                f"{len(found.events)} events"
            )
            for note in found.notes:
                print(f"  note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
