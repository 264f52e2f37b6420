"""A generated cut with known events: two clips, a cut inside the second, a pan."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from ..synthetic_scenes import ObjectSpec, SceneSpec, render_scene

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


def cut_with_events(folder: Path, rate: Fraction, start_tc: str = "01:00:00:00"):
    """Two clips, a cut inside the second, a pan; expected events in timeline seconds."""
    fps = float(rate)
    specs = [
        (
            "drop.mp4",
            SceneSpec(
                256,
                144,
                rate,
                80,
                objects=[ObjectSpec("fall", 10, 26, x=0.3), ObjectSpec("fall", 40, 57, x=0.7)],
            ),
            4,
        ),
        (
            "knock.mp4",
            SceneSpec(
                256,
                144,
                rate,
                90,
                camera_pan_px_per_frame=1.2,
                cut_at=[45],
                objects=[
                    ObjectSpec("hit", 8, 24, x=0.5, distance=0.3),
                    ObjectSpec("fall", 55, 72, x=0.4),
                ],
                seed=3,
            ),
            0,
        ),
    ]
    tl = otio.schema.Timeline(name="events")
    tl.global_start_time = otio.opentime.from_timecode(start_tc, fps)
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    expected, cursor = [], 0
    for name, spec, src_in in specs:
        truth = render_scene(spec, folder / name)
        used = spec.frames - src_in
        track.append(
            otio.schema.Clip(
                name=name.split(".")[0],
                media_reference=otio.schema.ExternalReference(
                    target_url=name, available_range=TR(RT(0, fps), RT(spec.frames, fps))
                ),
                source_range=TR(RT(src_in, fps), RT(used, fps)),
            )
        )
        for ev in truth.events:
            expected.append(
                {
                    "onset_s": (cursor + ev.onset_frame - src_in) / fps,
                    "end_s": (cursor + ev.end_frame - src_in) / fps,
                    "continuous": ev.continuous,
                }
            )
        cursor += used
    tl.tracks.append(track)
    path = folder / "cut.otio"
    otio.adapters.write_to_file(tl, str(path))
    (folder / "expected.json").write_text(json.dumps({"events": expected}))
    return path, expected


def one_clip_cut(folder: Path, media: str, frames: int, rate: int = 25) -> Path:
    """``folder/cut.otio``: one video track with one clip of ``media`` (relative), its first
    ``frames`` frames."""
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(
        otio.schema.Clip(
            name=Path(media).stem,
            media_reference=otio.schema.ExternalReference(target_url=media),
            source_range=TR(RT(0, rate), RT(frames, rate)),
        )
    )
    timeline = otio.schema.Timeline(name="t")
    timeline.tracks.append(track)
    path = Path(folder) / "cut.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


def many_clips(
    folder: Path, clips: int, frames: int = 50, rate: int = 25, size: tuple[int, int] = (160, 90)
) -> Path:
    """``folder/many.otio``: ``clips`` clips in a row, each its own generated scene (falls and
    hits at known frames, every third with a cut inside), for engines that split by clip."""
    tl = otio.schema.Timeline(name=f"{clips} clips")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    for n in range(clips):
        spec = SceneSpec(
            size[0],
            size[1],
            rate,
            frames,
            cut_at=[frames // 2] if n % 3 == 2 else [],
            objects=[
                ObjectSpec("fall", 4 + n % 5, 4 + n % 5 + frames // 4, x=0.3),
                ObjectSpec("hit", frames // 2 + 2, frames // 2 + 2 + frames // 4, x=0.6),
            ],
            seed=n,
        )
        name = f"clip{n:03d}.mp4"
        render_scene(spec, folder / name)
        track.append(
            otio.schema.Clip(
                name=f"clip{n:03d}",
                media_reference=otio.schema.ExternalReference(
                    target_url=name, available_range=TR(RT(0, rate), RT(frames, rate))
                ),
                source_range=TR(RT(0, rate), RT(frames, rate)),
            )
        )
    tl.tracks.append(track)
    path = folder / "many.otio"
    otio.adapters.write_to_file(tl, str(path))
    return path
