"""``sonicvision demo``: a short cut with known events, the main job on it, and the score.

Three generated clips (objects that fall, hit, slide and pass by at known frames; a cut inside
one clip; a smooth camera pan as a distraction) are laid on a 23.976 timeline starting at
01:00:00:00 with one off-screen ``SFX:`` marker. The main job runs on it with the embedded
default, and the demo prints expected vs found events with their timing errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from .evaluate import ExpectedEvent, evaluate_timeline
from .metrics import TimingReport
from .options import FoleyOptions
from .pipeline import FoleyResult, foley
from .synthetic_scenes import ObjectSpec, SceneSpec, render_scene

RationalTime = otio.opentime.RationalTime
TimeRange = otio.opentime.TimeRange


@dataclass(frozen=True)
class DemoClip:
    name: str
    spec: SceneSpec
    source_in: int  # first source frame used on the timeline
    frames: int  # frames used
    gap_before: int = 0


def demo_clips(rate: Fraction, width: int = 480, height: int = 270) -> list[DemoClip]:
    """The demo's footage: each clip's events sit at known source frames."""
    return [
        DemoClip(
            "cup_drop.mp4",
            SceneSpec(
                width,
                height,
                rate,
                96,
                objects=[
                    ObjectSpec("fall", 14, 30, x=0.3),
                    ObjectSpec("fall", 50, 66, x=0.7, bounce=9),
                ],
            ),
            source_in=6,
            frames=84,
        ),
        DemoClip(
            "table_knock.mp4",
            SceneSpec(
                width,
                height,
                rate,
                120,
                camera_pan_px_per_frame=1.5,
                cut_at=[60],
                objects=[
                    ObjectSpec("hit", 10, 28, x=0.55, distance=0.3),
                    ObjectSpec("slide", 76, 104, x=0.2, distance=0.5),
                ],
                seed=1,
            ),
            source_in=0,
            frames=116,
            gap_before=12,
        ),
        DemoClip(
            "street_pass.mp4",
            SceneSpec(width, height, rate, 72, objects=[ObjectSpec("pass", 14, 40)], seed=2),
            source_in=4,
            frames=64,
        ),
    ]


def make_demo_cut(
    folder: Path, rate: Fraction = Fraction(24000, 1001)
) -> tuple[Path, list[ExpectedEvent]]:
    """Write the footage and ``demo_cut.otio``; return it with the expected on-screen events."""
    folder.mkdir(parents=True, exist_ok=True)
    fps = float(rate)
    timeline = otio.schema.Timeline(name="SonicVision demo")
    timeline.global_start_time = otio.opentime.from_timecode("01:00:00:00", fps)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    expected: list[ExpectedEvent] = []
    cursor = 0
    for clip in demo_clips(rate):
        truth = render_scene(clip.spec, folder / clip.name)
        if clip.gap_before:
            track.append(otio.schema.Gap(duration=RationalTime(clip.gap_before, fps)))
            cursor += clip.gap_before
        ref = otio.schema.ExternalReference(
            target_url=clip.name,
            available_range=TimeRange(RationalTime(0, fps), RationalTime(clip.spec.frames, fps)),
        )
        track.append(
            otio.schema.Clip(
                name=clip.name.split(".")[0],
                media_reference=ref,
                source_range=TimeRange(
                    RationalTime(clip.source_in, fps), RationalTime(clip.frames, fps)
                ),
            )
        )
        for ev in truth.events:
            if clip.source_in <= ev.onset_frame < clip.source_in + clip.frames:
                on = (cursor + ev.onset_frame - clip.source_in) / fps
                end = (
                    cursor + min(ev.end_frame, clip.source_in + clip.frames) - clip.source_in
                ) / fps
                expected.append(ExpectedEvent(on, end, ev.continuous, ev.label))
        cursor += clip.frames
    timeline.tracks.append(track)
    timeline.tracks.markers.append(
        otio.schema.Marker(
            name="SFX: distant traffic, city ambience",
            marked_range=TimeRange(RationalTime(84, fps), RationalTime(96, fps)),
            color=otio.schema.MarkerColor.PURPLE,
        )
    )
    path = folder / "demo_cut.otio"
    otio.adapters.write_to_file(timeline, str(path))
    (folder / "expected_events.json").write_text(
        json.dumps({"rate": fps, "events": [e.__dict__ for e in expected]}, indent=2)
    )
    return path, expected


@dataclass
class DemoReport:
    result: FoleyResult
    expected: list[ExpectedEvent]
    timing: TimingReport
    rows: list[dict]


def run_demo(folder: Path, options: FoleyOptions | None = None, progress=None) -> DemoReport:
    """Make the cut, run the main job, score the on-screen track."""
    options = options or FoleyOptions()
    cut, expected = make_demo_cut(folder)
    out = folder / "demo_foley.otio"
    n = 1
    while out.exists():
        n += 1
        out = folder / f"demo_foley_v{n}.otio"
    kwargs = {"progress": progress} if progress else {}
    result = foley(cut, out, options, **kwargs)
    rate = otio.adapters.read_from_file(str(cut)).global_start_time.rate
    timing = evaluate_timeline(otio.adapters.read_from_file(str(result.output)), expected, rate)
    found = [e for e in result.analysis.events if e.onscreen]
    rows = []
    for exp in expected:
        near = min(found, key=lambda e: abs(e.start.to_seconds() - exp.onset_s), default=None)
        err = None if near is None else near.start.to_seconds() - exp.onset_s
        rows.append(
            {
                "expected": exp.label,
                "at_s": round(exp.onset_s, 3),
                "found": near.text if near is not None and abs(err) <= 0.1 else None,
                "error_ms": None if err is None or abs(err) > 0.1 else round(err * 1000, 1),
                "error_frames": None if err is None or abs(err) > 0.1 else round(err * rate, 2),
            }
        )
    return DemoReport(result, expected, timing, rows)
