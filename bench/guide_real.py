"""Production sound as a guide, on real footage: Big Buck Bunny's first 300 s, its own
soundtrack (the film's Foley and its score) as the guide audio.

Scored against ``bench/labels/bbb_first_300s.contacts.json`` (the spotting bench's labels, see
the README beside them: wing flaps are SILENT_MOTION, a cue there is a wrong one): contact
recall (labelled VISIBLE_CONTACTs with a cue), impact precision (impact cues on a labelled
contact or audible visible action), cues on OFFSCREEN_OR_MUSIC labels (the score or off-screen
sound), for the current detector with the guide off, on (``auto``) and alone (``only``); and
the guide's cost in CPU seconds per footage second beside the visual analysis'.

A cue matches a label at frame L when it lies in [L - 2, L + offset + 2] frames, offset being
the labels' ``audio_offset_frames`` (3): the soundtrack's onsets come about three frames after
the first visible contact, and the guide places cues on the soundtrack's onsets. The strict
window [L - 2, L + 2] is printed too.

    python bench/guide_real.py [--media FILE] [--seconds 300] [--list] [--visual-cache FILE]

``--list`` prints every cue the sound
placed or added with the label it falls on; ``--visual-cache`` keeps the picture's shots and
detections in a file, so the guide can be judged again without the visual analysis (its cost
is then not measured).
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import tempfile
import time
from pathlib import Path

import opentimelineio as otio

from sonicvision.adapters.media import MediaResolver
from sonicvision.events import Shot
from sonicvision.server.backends import build_detector
from sonicvision.server.detect.base import Detection
from sonicvision.server.detect.worker import DetectionWorker
from sonicvision.server.guide import guide_detections
from sonicvision.server.guide.fuse import GuidedInterval
from sonicvision.server.shots import find_shots

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
MEDIA = Path(__file__).resolve().parents[2] / "shared/fixtures/media/bbb_first_300s.mp4"
LABELS = Path(__file__).resolve().parent / "labels" / "bbb_first_300s.contacts.json"


def cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def cues(shots, detections, rate: float) -> list[dict]:
    """Every interval as a cue: picture frame of its onset (exact where the sound placed it)."""
    out = []
    for shot in shots:
        det = detections.get(shot.index)
        if det is None:
            continue
        base = shot.record_range.start_time.to_seconds()
        for iv in det.intervals:
            frame = (base + iv.onset / shot.media_rate) * rate
            placed = "picture"
            if isinstance(iv, GuidedInterval):
                placed = iv.placed_by
                if iv.onset_time is not None:
                    frame = iv.onset_time.to_seconds() * rate
            out.append(
                {
                    "frame": frame,
                    "impact": not iv.continuous,
                    "confidence": min(1.0, iv.strength),
                    "placed_by": placed,
                }
            )
    return out


def score(found: list[dict], labels: dict, seconds: float, late: int) -> dict:
    events = [e for e in labels["events"] if e["frame"] < seconds * labels["fps"]]

    def near(cue: dict, classes: tuple[str, ...]) -> bool:
        return any(
            e["class"] in classes and e["frame"] - 2 <= cue["frame"] <= e["frame"] + late + 2
            for e in events
        )

    impacts = [c for c in found if c["impact"]]
    good = [c for c in impacts if near(c, ("VISIBLE_CONTACT", "VISIBLE_ACTION"))]
    music = [c for c in impacts if near(c, ("OFFSCREEN_OR_MUSIC",))]
    contacts = [e for e in events if e["class"] == "VISIBLE_CONTACT"]

    def heard(e: dict, cues: list[dict]) -> bool:
        return any(e["frame"] - 2 <= c["frame"] <= e["frame"] + late + 2 for c in cues)

    hit = [e for e in contacts if heard(e, found)]
    hit_by_impacts = [e for e in contacts if heard(e, impacts)]
    confident = [c for c in impacts if c["confidence"] >= 0.5]
    confident_good = [c for c in confident if c in good]
    return {
        "cues": len(found),
        "impacts": len(impacts),
        "precision": len(good) / len(impacts) if impacts else float("nan"),
        "recall": len(hit) / len(contacts) if contacts else float("nan"),
        "contacts": f"{len(hit)}/{len(contacts)}",
        "impact_recall": len(hit_by_impacts) / len(contacts) if contacts else float("nan"),
        "on_music_or_offscreen": len(music),
        "precision_conf_0.5": (len(confident_good) / len(confident) if confident else float("nan")),
        "impacts_conf_0.5": len(confident),
        "recall_conf_0.5": (
            sum(heard(e, confident) for e in contacts) / len(contacts) if contacts else float("nan")
        ),
        "precision_by": {
            k: (
                f"{sum(c in good for c in impacts if c['placed_by'] == k)}"
                f"/{sum(c['placed_by'] == k for c in impacts)}"
            )
            for k in ("picture", "picture+audio", "audio")
        },
        "by": {
            k: sum(c["placed_by"] == k for c in found)
            for k in ("picture", "picture+audio", "audio")
        },
    }


def _range(r: otio.opentime.TimeRange) -> list[float]:
    return [r.start_time.value, r.start_time.rate, r.duration.value, r.duration.rate]


def save_visual(path: Path, shots: list[Shot], detections: dict[int, Detection]) -> None:
    """The picture's result as a pickle (OTIO's times do not pickle: kept as numbers)."""
    rows = [
        {
            **{k: v for k, v in vars(s).items() if k not in ("source_range", "record_range")},
            "source_range": _range(s.source_range),
            "record_range": _range(s.record_range),
        }
        for s in shots
    ]
    path.write_bytes(pickle.dumps((rows, detections)))


def load_visual(path: Path) -> tuple[list[Shot], dict[int, Detection]]:
    rows, detections = pickle.loads(path.read_bytes())

    def back(v: list[float]) -> otio.opentime.TimeRange:
        return TR(RT(v[0], v[1]), RT(v[2], v[3]))

    shots = [
        Shot(
            **{
                **row,
                "source_range": back(row["source_range"]),
                "record_range": back(row["record_range"]),
            }
        )
        for row in rows
    ]
    return shots, detections


def listing(found: list[dict], labels: dict, late: int) -> None:
    """Every cue the sound placed or added, with the labels it falls on."""
    for c in found:
        if c["placed_by"] == "picture" or not c["impact"]:
            continue
        on = [
            f"{e['class']} {e['frame']} ({e.get('what', '')[:50]})"
            for e in labels["events"]
            if e["frame"] - 2 <= c["frame"] <= e["frame"] + late + 2
        ]
        print(f"  {c['placed_by']:<13} frame {c['frame']:8.1f}  " + ("; ".join(on) or "-"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=MEDIA)
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--list", action="store_true", help="print the cues the sound placed")
    ap.add_argument(
        "--visual-cache", type=Path, default=None, help="a file: the picture's shots, detections"
    )
    args = ap.parse_args()
    if args.visual_cache is not None and args.visual_cache.is_dir():
        ap.error(f"--visual-cache wants a file path, not the folder {args.visual_cache}")
    labels = json.loads(args.labels.read_text())
    media = args.media
    rate = float(labels["fps"])
    frames = int(args.seconds * rate)
    tl = otio.schema.Timeline(name="bbb")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(
        otio.schema.Clip(
            name="bbb",
            media_reference=otio.schema.ExternalReference(target_url=str(media)),
            source_range=TR(RT(0, rate), RT(frames, rate)),
        )
    )
    tl.tracks.append(track)
    with tempfile.TemporaryDirectory() as tmp:
        resolver = MediaResolver(Path(tmp) / "bbb.otio", [], [])
        visual_wall = visual_cpu = float("nan")
        if args.visual_cache and args.visual_cache.exists():
            shots, detections = load_visual(args.visual_cache)
        else:
            # The visual analysis, as find_events runs it: shots and detection in one decode.
            wall, cpu = time.perf_counter(), cpu_s()
            with DetectionWorker(build_detector("motion")) as detecting:
                shots = find_shots(tl, resolver, watch=detecting).shots
                detections = detecting.collect()
            visual_wall, visual_cpu = time.perf_counter() - wall, cpu_s() - cpu
            if args.visual_cache:
                save_visual(args.visual_cache, shots, detections)
        wall, cpu = time.perf_counter(), cpu_s()
        guided = guide_detections(tl, shots, detections, resolver, "auto")
        guide_wall, guide_cpu = time.perf_counter() - wall, cpu_s() - cpu
        alone = guide_detections(tl, shots, detections, resolver, "only")
    footage = frames / rate
    late = int(labels.get("audio_offset_frames", 3))
    off = cues(shots, detections, rate)
    on = cues(shots, guided.detections, rate)
    only = cues(shots, alone.detections, rate)
    print(f"{media.name}: {footage:.0f} s, {len(shots)} shots")
    print(
        f"visual analysis: {visual_wall:.1f} s wall, {visual_cpu / footage:.3f} CPU s per footage s"
    )
    print(
        f"guide audio:     {guide_wall:.1f} s wall, {guide_cpu / footage:.3f} CPU s per footage s"
    )
    for note in guided.notes:
        print("  ", note)
    header = f"{'guide':<6} {'window':<10} {'cues':>5} {'impacts':>8} {'precision':>10} "
    header += f"{'recall':>7} {'contacts':>9} {'on music/off':>13} {'prec@0.5':>9} {'n@0.5':>6} "
    header += f"{'rec@0.5':>8}"
    header += "  placed by"
    print(header)
    for name, found in (("off", off), ("auto", on), ("only", only)):
        for window, lag in (("contact+3", late), ("strict+-2", 0)):
            s = score(found, labels, args.seconds, lag)
            print(
                f"{name:<6} {window:<10} {s['cues']:>5} {s['impacts']:>8} {s['precision']:>10.2f} "
                f"{s['recall']:>7.2f} {s['contacts']:>9} {s['on_music_or_offscreen']:>13} "
                f"{s['precision_conf_0.5']:>9.2f} {s['impacts_conf_0.5']:>6} "
                f"{s['recall_conf_0.5']:>8.2f}  {s['by']}"
            )
            print(
                f"{'':<17} contacts found by impact cues: {s['impact_recall']:.2f}; impacts on "
                f"a contact or action, by what placed them: {s['precision_by']}"
            )
    if args.list:
        print("cues the sound placed (guide auto):")
        listing(on, labels, late)


if __name__ == "__main__":
    main()
