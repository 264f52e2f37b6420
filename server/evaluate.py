"""``sonicvision eval``: score a rendered timeline's on-screen track against expected events.

The on-screen clips are mixed to one mono buffer at their record positions (what the editor
hears), then the paper's timing metrics (server/metrics.py) compare it with the expected events:
onset accuracy and AP within 0.1 s, time accuracy and IoU of the per-frame activity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import opentimelineio as otio
import soundfile as sf

from sonicvision.adapters.tracks import our_tracks
from sonicvision.errors import ConfigError

from .metrics import TimingReport, evaluate_track
from .place import PROJECT_RATE


@dataclass(frozen=True)
class ExpectedEvent:
    onset_s: float
    end_s: float
    continuous: bool = False
    label: str = ""


def load_expected(path: Path) -> list[ExpectedEvent]:
    """``{"events": [{"onset_s": 1.25, "end_s": 1.45, "continuous": false}, ...]}``."""
    try:
        data = json.loads(Path(path).read_text())
        return [
            ExpectedEvent(
                float(e["onset_s"]),
                float(e["end_s"]),
                bool(e.get("continuous", False)),
                str(e.get("label", "")),
            )
            for e in data["events"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read expected events: {exc}", path=path, field="events") from exc


def mix_track(timeline: otio.schema.Timeline, kind: str = "onscreen") -> tuple[np.ndarray, float]:
    """Mono mix of our clips of one kind at their record positions; and the timeline length."""
    duration = timeline.duration().to_seconds()
    mix = np.zeros(int(np.ceil(duration * PROJECT_RATE)) + 1, dtype=np.float32)
    for track in our_tracks(timeline):
        if track.kind != kind:
            continue
        for clip in track.clips:
            audio, rate = sf.read(str(clip.path), dtype="float32", always_2d=True)
            if rate != PROJECT_RATE:
                raise ConfigError("clip is not at 48 kHz", path=clip.path)
            start = round(clip.record_range.start_time.to_seconds() * PROJECT_RATE)
            mono = audio.mean(axis=1)[: max(0, len(mix) - start)]
            mix[start : start + len(mono)] += mono
    return mix, duration


def evaluate_timeline(
    timeline: otio.schema.Timeline, expected: list[ExpectedEvent], frame_rate: float
) -> TimingReport:
    audio, duration = mix_track(timeline, "onscreen")
    return evaluate_track(
        audio,
        PROJECT_RATE,
        [e.onset_s for e in expected],
        [(e.onset_s, e.end_s) for e in expected],
        frame_rate,
        duration,
    )
