"""Spotting on real footage: the motion detector against hand-made labels and live action.

Big Buck Bunny's first 300 s (``bench/labels/bbb_first_300s.contacts.json``, checked and
extended from the shared label file; see bench/labels/README.md) gives:

* **impact precision**: impact cues within 2 frames of a labelled visible contact or audible
  visible action, over all impact cues;
* **contact recall**: labelled visible contacts with an impact cue within 2 frames;
* **median timing error** (frames) of the matched contacts;
* **cues on silent motion**: impact cues within 2 frames of a labelled wing flap, face or
  gesture, transition or credits (the aim is none).

The live-action clips (``bikes.mp4``, ``carphone_pristine.mp4``, ``vtest.avi``,
``phone_dog_vfr.mp4``; none has a labelled contact) give false impacts per minute and the share
of each clip covered by continuous cues. Beside the detector as it is: random cues in the same
shots (chance: as many per shot as the detector gives, 200 draws) and the detector as it was
before issue 13 (``BEFORE``'s ``server/detect/motion.py``, loaded from git into a temporary
module), and the speed: CPU seconds per footage second of decode + detection on the 720p file.

``--calibrate`` refits the impact confidence table (``server/detect/calibration.json``, see
``server/detect/calibration.py``) on every candidate of the film, the live clips (all false)
and generated scenes (exact truth), after printing the held-out curve: each half of the film
scored by a map fitted without it, each live clip by a map fitted without that clip. The
default ``min_confidence`` is read off that curve. ``--shots`` prints, per shot, the cues and
how many candidates each rule turned down.

``--framed letterbox|pillarbox|dim`` scores a copy of the film framed in black bars (its
640x360 picture in a 4:3 frame, or in a 2.39:1 one) or graded half as bright (``plain``: the
same re-encode as it is), made once into ``--cache``; ``--whole`` reads that copy as the
decoder did before it looked at the file's pictures (server/frames/matte.py): the frame whole,
bars and all, and its contrast as it is.

``--perturb soften|timecode|dim|washed|grain`` scores the film's own analysis frames changed
the way other copies of a film differ (a picture slightly softer: scaled 5x up and back down;
a burnt-in timecode window, as on offline and review copies; graded half as bright; half the
contrast with its blacks lifted to 64, as ungraded log footage looks; film grain, Gaussian, 3
grey levels): how many cues stay, come and go. The cuts are the film's.

Decoding and shot finding are the pipeline's own (``scan_clip``); a file the frame reader
refuses (true VFR) is decoded frame by frame in order instead, at its average rate.

    python bench/spotting_real.py [--media-dir DIR] [--range 170 182] [--only bbb|live]
        [--no-before] [--cache DIR] [--min-confidence 0.5] [--pr] [--list] [--shots]
        [--calibrate] [--framed plain|letterbox|pillarbox|dim [--whole]]
        [--perturb soften|timecode|dim|washed|grain]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import av
import cv2
import numpy as np
from scenedetect import FrameTimecode

from sonicvision.errors import MediaError
from sonicvision.server import frames
from sonicvision.server.detect import calibration as cal
from sonicvision.server.detect.base import Candidate, Detection, Detector
from sonicvision.server.detect.motion import MotionDetector
from sonicvision.server.shots import cut_detector, scan_clip
from sonicvision.server.synthetic_scenes import ObjectSpec, SceneSpec, render_scene

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path("/work/shared/fixtures/media")
LABELS = ROOT / "bench" / "labels" / "bbb_first_300s.contacts.json"
BBB = "bbb_first_300s.mp4"
LIVE = ("bikes.mp4", "carphone_pristine.mp4", "vtest.avi", "phone_dog_vfr.mp4")
BEFORE = "dd3b955"  # the branch point of issue 13
TOLERANCE = 2  # frames
SILENT = ("flap", "face", "transition", "credits")


@dataclass
class Cue:
    frame: int  # media frame
    confidence: float
    motion: str


@dataclass
class ShotResult:
    first: int
    count: int
    impacts: list[Cue] = field(default_factory=list)
    continuous: list[tuple[int, int, str]] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)  # onsets in media frames


@dataclass
class ClipResult:
    name: str
    rate: float
    frames: int
    shots: list[ShotResult]
    cpu_s: float
    wall_s: float
    cached: bool = False


def _cache_name(path: Path, first: int, count: int | None, whole: bool) -> str:
    """The cache file of ``path``'s decoded frames (``whole``: read bars and all)."""
    return f"{path.stem}_{first}_{count}{'_whole' if whole else ''}.npz"


def decoded(
    path: Path, first: int, count: int | None, cache: Path | None, whole: bool = False
) -> tuple[float, list[tuple[int, int, int, int]], Iterator[np.ndarray]]:
    """(rate, shots as (first, count, before, after), frames) of ``path`` at analysis width;
    ``whole``: the whole frame, any black bars read as picture."""
    key = None
    if cache is not None:
        key = cache / _cache_name(path, first, count, whole)
        if key.exists():
            data = np.load(key)
            return float(data["rate"]), [tuple(s) for s in data["shots"]], iter(data["frames"])
    try:
        info = frames.probe(path)
        if whole:
            info = replace(info, matte=None, stretch=None)
        if info.is_vfr:
            raise MediaError("variable frame rate", path=path)
        n = info.frame_count - first if count is None else count
        held: list[np.ndarray] = []
        shots = [
            (s.first, s.count, s.before, s.after)
            for s in scan_clip(path, first, n, info, on_frame=held.append)
        ]
        rate = float(info.rate_exact)
        pictures = iter(held)
    except MediaError as exc:
        print(f"  {path.name}: the frame reader refuses it ({exc}); decoding in order")
        rate, held = _decode_in_order(path, first, count)
        shots = _cuts(held, rate, first)
        pictures = iter(held)
    if key is not None:
        key.parent.mkdir(parents=True, exist_ok=True)
        np.savez(key, rate=rate, shots=np.array(shots), frames=np.stack(held))
    return rate, shots, pictures


def _decode_in_order(path: Path, first: int, count: int | None) -> tuple[float, list[np.ndarray]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate)
        w, h = frames.analysis_size(stream.width, stream.height, frames.ANALYSIS_WIDTH)
        out = []
        for i, frame in enumerate(container.decode(stream)):
            if i >= first and (count is None or i < first + count):
                out.append(frame.to_ndarray(width=w, height=h, format="bgr24"))
    return rate, out


def _cuts(held: list[np.ndarray], rate: float, first: int) -> list[tuple[int, int, int, int]]:
    """Shots of frames decoded in order, found as ``scan_clip`` finds them."""
    detector = cut_detector(rate)
    starts = [first]
    for i, picture in enumerate(held, first):
        starts += [c.frame_num for c in detector.process_frame(FrameTimecode(i, rate), picture)]
    starts += [
        c.frame_num for c in detector.post_process(FrameTimecode(first + len(held) - 1, rate))
    ]
    starts = sorted({s for s in starts if first <= s < first + len(held)})
    ends = starts[1:] + [first + len(held)]
    return [(a, b - a, 0, 0) for a, b in zip(starts, ends, strict=True)]


def find_events(
    detector: Detector,
    path: Path,
    first: int,
    count: int | None,
    cache: Path | None,
    whole: bool = False,
    perturb: str | None = None,
) -> ClipResult:
    """Decode (or read the cache) and detect shot by shot, as the pipeline does."""
    t0, c0 = time.perf_counter(), time.process_time()
    cached = cache is not None and (cache / _cache_name(path, first, count, whole)).exists()
    rate, shots, pictures = decoded(path, first, count, cache, whole)
    if perturb:
        pictures = perturbed(pictures, perturb, first, rate)
    stream = detector.stream(rate)
    results: list[ShotResult] = []
    pushed = first
    for s_first, s_count, before, after in shots:
        while pushed < s_first + s_count + after:
            stream.push(next(pictures))
            pushed += 1
        det: Detection = stream.shot(s_first - first, s_count, before, after)
        res = ShotResult(s_first, s_count, rejected=dict(getattr(det, "rejected", {}) or {}))
        for c in getattr(det, "candidates", []):
            res.candidates.append(replace(c, onset=s_first + c.onset))
        for iv in det.intervals:
            if iv.continuous:
                res.continuous.append((s_first + iv.onset, s_first + iv.end, iv.motion))
            else:
                res.impacts.append(Cue(s_first + iv.onset, iv.strength, iv.motion))
        results.append(res)
    n = sum(s[1] for s in shots)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    return ClipResult(path.name, rate, n, results, cpu, wall, cached)


def framed_copy(film: Path, kind: str, folder: Path) -> Path:
    """``film`` re-encoded with its 640x360 picture in black bars or half as bright (``plain``:
    as it is), once."""
    out = folder / f"{film.stem}_{kind}.mp4"
    if out.exists():
        return out
    folder.mkdir(parents=True, exist_ok=True)
    info = frames.probe(film)
    part = out.with_suffix(".part.mp4")
    with av.open(str(part), "w") as dst:
        stream = dst.add_stream("libx264", rate=info.rate_exact)
        stream.options = {"crf": "16", "preset": "veryfast"}
        for i, picture in enumerate(frames.iter_frames(film, width=640, info=info)):
            h, w = picture.shape[:2]
            top = (w * 3 // 4 - h) // 2 if kind == "letterbox" else 0
            side = (round(h * 2.39) - w) // 2 if kind == "pillarbox" else 0
            picture = cv2.copyMakeBorder(picture, top, top, side, side, cv2.BORDER_CONSTANT)
            if kind == "dim":
                picture = (picture.astype(np.float32) * 0.5).round().astype(np.uint8)
            if i == 0:
                stream.height, stream.width = picture.shape[:2]
                stream.pix_fmt = "yuv420p"
            frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    part.rename(out)
    return out


PERTURBATIONS = ("soften", "timecode", "dim", "washed", "grain")


def perturbed(
    pictures: Iterator[np.ndarray], kind: str, first: int, rate: float
) -> Iterator[np.ndarray]:
    """``pictures`` (analysis size, from frame ``first``) as another copy of the film might
    show them (see the module's notes)."""
    rng = np.random.default_rng(7)
    fps = max(1, round(rate))
    for i, picture in enumerate(pictures, first):
        h, w = picture.shape[:2]
        if kind in ("dim", "washed"):
            lift = 64.0 if kind == "washed" else 0.0  # washed: blacks lifted, as ungraded log
            yield (lift + picture.astype(np.float32) * 0.5).round().astype(np.uint8)
        elif kind == "grain":
            noise = rng.normal(0.0, 3.0, picture.shape[:2])[..., None]
            yield np.clip(picture + noise, 0, 255).round().astype(np.uint8)
        else:
            big = cv2.resize(picture, (5 * w, 5 * h), interpolation=cv2.INTER_LINEAR)
            if kind == "timecode":
                sec = i // fps
                text = f"01:{sec // 60 % 60:02d}:{sec % 60:02d}:{i % fps:02d}"
                font, scale = cv2.FONT_HERSHEY_SIMPLEX, 5 * h / 600
                (tw, th), _ = cv2.getTextSize(text, font, scale, 2)
                x, y = (5 * w - tw) // 2, round(0.96 * 5 * h)
                cv2.rectangle(big, (x - 10, y - th - 10), (x + tw + 10, y + 10), (0, 0, 0), -1)
                cv2.putText(big, text, (x, y), font, scale, (255, 255, 255), 2, cv2.LINE_AA)
            yield cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)


def load_labels(path: Path) -> tuple[list[int], list[int], dict[str, list[int]]]:
    """(audible frames: contacts and audible actions, contact frames, silent frames by kind)."""
    events = json.loads(path.read_text())["events"]
    audible = [e["frame"] for e in events if e["class"] in ("VISIBLE_CONTACT", "VISIBLE_ACTION")]
    contacts = [e["frame"] for e in events if e["class"] == "VISIBLE_CONTACT"]
    silent: dict[str, list[int]] = {k: [] for k in SILENT}
    for e in events:
        if e["class"] == "SILENT_MOTION":
            silent[e.get("kind", "flap")].append(e["frame"])
    return sorted(audible), sorted(contacts), silent


def _near(frames_: np.ndarray, targets: list[int]) -> np.ndarray:
    """Distance (frames) from each of ``frames_`` to the nearest target."""
    if not targets or not len(frames_):
        return np.full(len(frames_), 10**9)
    t = np.asarray(targets)
    return np.abs(frames_[:, None] - t[None, :]).min(axis=1)


def score(
    cues: list[int], labels: tuple[list[int], list[int], dict[str, list[int]]]
) -> dict[str, float]:
    audible, contacts, silent = labels
    c = np.asarray(sorted(cues))
    hits = _near(c, audible) <= TOLERANCE
    out = {"cues": float(len(c)), "precision": float(hits.mean()) if len(c) else float("nan")}
    if contacts:
        d = _near(np.asarray(contacts), list(c)) if len(c) else np.full(len(contacts), 10**9)
        found = d <= TOLERANCE
        out["recall"] = float(found.mean())
        signed = []
        for f in np.asarray(contacts)[found]:
            k = int(np.argmin(np.abs(c - f)))
            signed.append(int(c[k] - f))
        out["median_error"] = float(np.median(np.abs(signed))) if signed else float("nan")
    for kind, where in silent.items():
        out[kind] = float((_near(c, where) <= TOLERANCE).sum()) if where else 0.0
    return out


def chance(clip: ClipResult, labels: tuple, draws: int = 200, seed: int = 13) -> dict[str, float]:
    """Random impact cues: in each shot as many as the detector gave, uniformly placed."""
    rng = np.random.default_rng(seed)
    totals: dict[str, list[float]] = {}
    for _ in range(draws):
        cues = []
        for s in clip.shots:
            cues += list(rng.integers(s.first, s.first + s.count, size=len(s.impacts)))
        for k, v in score(cues, labels).items():
            totals.setdefault(k, []).append(v)
    return {
        k: float(np.nanmean(v)) if not np.all(np.isnan(v)) else float("nan")
        for k, v in totals.items()
    }


def live_numbers(clip: ClipResult) -> dict[str, float]:
    minutes = clip.frames / clip.rate / 60
    covered = np.zeros(clip.frames + max((s.first for s in clip.shots), default=0) + 1, bool)
    for s in clip.shots:
        for a, b, _ in s.continuous:
            covered[a:b] = True
    n_imp = sum(len(s.impacts) for s in clip.shots)
    return {
        "impacts": float(n_imp),
        "false_per_min": n_imp / minutes if minutes else 0.0,
        "continuous_share": float(covered.sum()) / clip.frames if clip.frames else 0.0,
    }


def before_detector() -> Detector:
    """The motion detector as it was at ``BEFORE``, from git, in a temporary module."""
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:server/detect/motion.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    tmp = Path(tempfile.mkdtemp()) / "motion_before.py"
    tmp.write_text(source)
    spec = importlib.util.spec_from_file_location("motion_before", tmp)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["motion_before"] = module
    spec.loader.exec_module(module)
    return module.MotionDetector(threads=2)


def print_shots(clip: ClipResult) -> None:
    """Per shot: its cues, and how many candidates each rule turned down (the report an
    editor gets with each shot's Detection: ``rejected`` and ``candidates``)."""
    for s in clip.shots:
        cues = [f"{c.frame}:{c.confidence:.2f}" for c in s.impacts]
        runs = [f"{a}-{b} {m}" for a, b, m in s.continuous]
        turned = ", ".join(f"{k} {v}" for k, v in sorted(s.rejected.items())) or "none"
        print(
            f"  {clip.name} shot {s.first}-{s.first + s.count - 1}: impacts {cues or '-'}, "
            f"continuous {runs or '-'}; turned down: {turned}"
        )


def with_threshold(clip: ClipResult, least: float) -> ClipResult:
    shots = [
        ShotResult(s.first, s.count, [c for c in s.impacts if c.confidence >= least], s.continuous)
        for s in clip.shots
    ]
    return ClipResult(clip.name, clip.rate, clip.frames, shots, clip.cpu_s, clip.wall_s)


HALF = 3600  # frames: the film's first half chooses thresholds, the second holds out


def _half(cues: list[int], lab: tuple, h: int) -> tuple[list[int], tuple]:
    """The cues and labels of one half of the film (0: before ``HALF``, 1: from it)."""

    def inside(f: int) -> bool:
        return (f < HALF) == (h == 0)

    return [c for c in cues if inside(c)], (
        [f for f in lab[0] if inside(f)],
        [f for f in lab[1] if inside(f)],
        {k: [f for f in v if inside(f)] for k, v in lab[2].items()},
    )


def _half_clip(clip: ClipResult, h: int) -> ClipResult:
    shots = [s for s in clip.shots if (s.first < HALF) == (h == 0)]
    return ClipResult(clip.name, clip.rate, clip.frames, shots, clip.cpu_s, clip.wall_s)


# --- calibration (server/detect/calibration.py) ---------------------------------------------

CALIBRATED = ("", "low confidence")  # candidates the calibration decides on: the rules kept them
FEATURES = {
    cal.FLOW: ("log_decel", "log_region", "approach"),
    cal.SMALL: ("score", "struck", "log_speed", "log_size"),
}
GENERATED_RATES = (24.0, 25.0, 30000 / 1001, 24000 / 1001, 50.0, 60000 / 1001)


def _generated_scenes() -> Iterator[tuple[str, SceneSpec, list[int]]]:
    """Scenes whose impacts are known to the frame: falls with bounces, swings into blocks,
    slides and pass-bys under pans of several speeds, at the common rates (the test suite's
    kinds of scene, other seeds and pans)."""
    for rate in GENERATED_RATES:
        for pan, seed in ((0.0, 1), (30.0, 2), (-60.0, 3), (90.0, 4)):
            f = lambda x, r=rate: int(round(x * r))  # noqa: E731
            objects = [
                ObjectSpec("fall", f(0.3), f(0.8), x=0.2, bounce=f(0.35)),
                ObjectSpec("hit", f(1.6), f(2.0), x=0.75, distance=0.3),
                ObjectSpec("slide", f(2.6), f(3.8), x=0.3, distance=0.2),
                ObjectSpec("pass", f(4.2), f(5.0), direction=-1),
                ObjectSpec("fall", f(5.3), f(5.75), x=0.3 + 0.1 * seed, distance=0.3),
                ObjectSpec("fall", f(6.2), f(6.6), x=0.6, distance=0.5, size=0.08),
            ]
            spec = SceneSpec(
                rate=rate,
                frames=f(7.2),
                camera_pan_px_per_frame=pan / rate,
                objects=objects,
                grain=2.0 * (seed % 2),
                seed=seed,
            )
            truth = []
            for o in objects:
                if o.kind in ("fall", "hit"):
                    truth += [o.stop] + ([o.stop + o.bounce] if o.bounce else [])
            yield f"generated {rate:.2f} fps pan {pan:+.0f}", spec, sorted(truth)


def _source_key() -> str:
    h = hashlib.sha1()
    for f in sorted((ROOT / "server" / "detect").glob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _row(clip: str, c: Candidate, true: bool) -> dict:
    return {
        "clip": clip,
        "frame": int(c.onset),
        "source": c.source,
        "verdict": c.verdict,
        "features": c.features,
        "true": bool(true),
    }


def generated_rows(cache: Path | None) -> list[dict]:
    """Every impact candidate of the generated scenes (encoded as the tests encode them),
    true when within 1 frame of a known impact. Kept in ``cache`` per detector source."""
    key = None if cache is None else cache / f"generated_rows_{_source_key()}.json"
    if key is not None and key.exists():
        return json.loads(key.read_text())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec, truth in _generated_scenes():
            gt = render_scene(spec, Path(tmp) / "scene.mp4")
            pictures = frames.read_frames(gt.path, 0, gt.frames, width=320)
            det = MotionDetector(threads=2).detect(pictures, gt.rate)
            for c in det.candidates:
                rows.append(_row(name, c, min(abs(c.onset - t) for t in truth) <= 1))
    if key is not None:
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_text(json.dumps(rows))
    return rows


def clip_rows(clip: ClipResult, audible: list[int]) -> list[dict]:
    """A real clip's impact candidates, true when within ``TOLERANCE`` of an audible label."""
    return [
        _row(
            clip.name, c, bool(audible) and int(_near(np.array([c.onset]), audible)[0]) <= TOLERANCE
        )
        for s in clip.shots
        for c in s.candidates
    ]


def _group(row: dict) -> str:
    clip = row["clip"]
    return "generated" if clip.startswith("generated") else "film" if clip == BBB else "live"


def fit_table(rows: list[dict], quiet: bool = False) -> dict[str, cal.Logistic]:
    """One logistic map per source, fitted on every candidate (those the rules turned down
    too: they are real footage's silent motion, and the few labelled sets need them). Each
    group (the film, the live-action clips, the generated scenes) weighs as much as the
    others together, whatever its count, so 100 generated stops do not drown 40 real ones."""
    models = {}
    for source, names in FEATURES.items():
        use = [r for r in rows if r["source"] == source]
        labels = [r["true"] for r in use]
        if len(set(labels)) < 2:
            if not quiet:
                print(f"  {source}: {len(use)} candidates, one class only: raw scores kept")
            continue
        groups = [_group(r) for r in use]
        count = {g: groups.count(g) for g in set(groups)}
        weights = [len(use) / (len(count) * count[g]) for g in groups]
        models[source] = cal.fit_logistic(
            [r["features"] for r in use], labels, names, l2=1.0, weights=weights
        )
        if not quiet:
            print(
                f"  {source}: {len(use)} candidates, {sum(labels)} true ("
                + ", ".join(f"{g} {n}" for g, n in sorted(count.items()))
                + ")"
            )
    return models


def _kept(rows: list[dict], models: dict[str, cal.Logistic], least: float) -> list[dict]:
    """The candidates the rules kept whose calibrated confidence reaches ``least``."""
    table = cal.Calibration(models)
    return [
        r
        for r in rows
        if r["verdict"] in CALIBRATED and table.confidence(r["source"], r["features"]) >= least
    ]


def calibrate(bbb: ClipResult, labels: tuple, media: Path, cache: Path | None, write: Path) -> None:
    """Held-out checks of the confidence map, then the map fitted on everything, written.

    Each half of the film is scored by a map fitted without it (the other half, the live
    clips, the generated scenes); each live clip by a map fitted without that clip."""
    film = clip_rows(bbb, labels[0])
    live: dict[str, tuple[ClipResult, list[dict]]] = {}
    for name in LIVE:
        clip = find_events(MotionDetector(threads=2), media / name, 0, None, cache)
        live[name] = (clip, clip_rows(clip, []))
    gen = generated_rows(cache)
    live_rows = [r for _, rows in live.values() for r in rows]
    for group, rows in (("film", film), ("live", live_rows), ("generated", gen)):
        kept = [r for r in rows if r["verdict"] in CALIBRATED]
        print(
            f"{group}: {len(rows)} candidates ({sum(r['true'] for r in rows)} true), "
            f"{len(kept)} kept by the rules ({sum(r['true'] for r in kept)} true)"
        )
    thresholds = np.round(np.arange(0.0, 1.0, 0.05), 2)
    held: dict[str, list[float]] = {}
    for h in (0, 1):
        train = [r for r in film if (r["frame"] < HALF) != (h == 0)] + live_rows + gen
        models = fit_table(train, quiet=True)
        test = [r for r in film if (r["frame"] < HALF) == (h == 0)]
        for least in thresholds:
            cues = [r["frame"] for r in _kept(test, models, float(least))]
            q = score(*_half(cues, labels, h))
            held.setdefault(f"half {h + 1}", []).append(q)
    for name, (clip, rows) in live.items():
        others = [r for r in live_rows if r["clip"] != name]
        models = fit_table(film + others + gen, quiet=True)
        minutes = clip.frames / clip.rate / 60
        held[name] = [len(_kept(rows, models, float(x))) / minutes for x in thresholds]
    print("fitted on everything:")
    models = fit_table(film + live_rows + gen)
    truth = {(r["clip"], r["frame"]) for r in gen if r["true"]}
    print(
        "held-out: each half of the film by the map fitted without it (cues precision recall);"
        " each live clip's false impacts/min by the map fitted without it; generated impacts"
        " kept (in-sample)"
    )
    print(
        f"{'min_conf':>8} | {'half 1':^20} | {'half 2':^20} | "
        + " ".join(f"{n.split('.')[0][:9]:>9}" for n in LIVE)
        + " | generated"
    )
    for i, least in enumerate(thresholds):
        line = f"{least:8.2f}"
        for h in ("half 1", "half 2"):
            q = held[h][i]
            line += (
                f" | {int(q['cues']):4d} {_fmt(q['precision']):>6} "
                f"{_fmt(q.get('recall', float('nan'))):>6}  "
            )
        line += " | " + " ".join(f"{held[n][i]:9.2f}" for n in LIVE)
        kept = _kept(gen, models, float(least))
        found = len({(r["clip"], r["frame"]) for r in kept if r["true"]})
        line += f" | {found}/{len(truth)}"
        print(line)
    data = {
        "about": (
            "Impact confidence per candidate source: a logistic map of the evidence "
            "(server/detect/calibration.py), refitted by python bench/spotting_real.py "
            "--calibrate from bench/labels/bbb_first_300s.contacts.json, the live-action "
            "clips (no contacts) and generated scenes."
        ),
        "fitted_on": {
            "film": len(film),
            "live": len(live_rows),
            "generated": len(gen),
        },
        "models": {k: m.to_json() for k, m in models.items()},
    }
    write.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {write}")


def _aims(what: str, checks: list[tuple[str, float, bool]]) -> None:
    """One line per clip: each of issue 13's aims, its number, met or NOT met."""
    print(
        f"  aims ({what}): "
        + "; ".join(f"{aim}: {_fmt(v)} {'met' if ok else 'NOT met'}" for aim, v, ok in checks)
    )


def _fmt(v: float, digits: int = 2) -> str:
    return "-" if v != v else f"{v:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--media-dir", type=Path, default=MEDIA)
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--range", nargs=2, type=float, metavar=("START_S", "END_S"))
    ap.add_argument("--only", choices=("bbb", "live"))
    ap.add_argument("--no-before", action="store_true", help="skip the detector before issue 13")
    ap.add_argument("--cache", type=Path, help="keep decoded frames here between runs")
    ap.add_argument("--min-confidence", type=float, default=None)
    ap.add_argument("--pr", action="store_true", help="print the precision/recall curve")
    ap.add_argument("--list", action="store_true", help="print every impact cue")
    ap.add_argument(
        "--shots",
        action="store_true",
        help="print per shot its cues and the candidates turned down, by reason",
    )
    ap.add_argument(
        "--calibrate",
        action="store_true",
        help=f"refit the confidence table ({cal.TABLE.name}) on the labels and generated scenes",
    )
    ap.add_argument(
        "--framed",
        choices=("plain", "letterbox", "pillarbox", "dim"),
        help="score a 640x360 re-encode of the film, in black bars or dim (made once in --cache)",
    )
    ap.add_argument(
        "--whole",
        action="store_true",
        help="with --framed: read the frame whole, bars and all, at its own contrast",
    )
    ap.add_argument(
        "--perturb", choices=PERTURBATIONS, help="score the film's frames changed this way"
    )
    args = ap.parse_args()
    # As the product runs the detector (detect/worker.py): OpenCV's own thread pool gains
    # nothing on pictures this small and costs a fifth more CPU (0.37 -> 0.30 CPU s per
    # footage s on a 2-core box).
    cv2.setNumThreads(1)

    detectors: dict[str, Detector] = {"after": MotionDetector(threads=2)}
    if args.min_confidence is not None:
        detectors["after"] = MotionDetector(threads=2, min_confidence=args.min_confidence)
    if not args.no_before:
        detectors["before"] = before_detector()
    labels = load_labels(args.labels)

    if args.only != "live":
        path = args.media_dir / BBB
        if args.framed:
            folder = args.cache or Path(tempfile.gettempdir()) / "sonicvision_framed"
            path = framed_copy(path, args.framed, folder)
        first, count = 0, None
        if args.range:
            first, count = int(args.range[0] * 24), int((args.range[1] - args.range[0]) * 24)
            last = first + count
            lab = (
                [f for f in labels[0] if first <= f < last],
                [f for f in labels[1] if first <= f < last],
                {k: [f for f in v if first <= f < last] for k, v in labels[2].items()},
            )
        else:
            lab = labels
        rows = {}
        halves: dict[str, list[dict[str, float]]] = {}
        for name, det in detectors.items():
            clip = find_events(det, path, first, count, args.cache, args.whole, args.perturb)
            cues = [c.frame for s in clip.shots for c in s.impacts]
            rows[name] = score(cues, lab)
            halves[name] = [score(*_half(cues, lab, h)) for h in (0, 1)]
            if name == "after":
                halves["chance"] = [
                    chance(_half_clip(clip, h), _half(cues, lab, h)[1]) for h in (0, 1)
                ]
            if name == "after":
                rows["chance"] = chance(clip, lab)
                after_clip = clip
                secs = clip.frames / clip.rate
                print(
                    f"{path.name}: {clip.frames} frames in {len(clip.shots)} shots; "
                    f"{clip.cpu_s / secs:.3f} CPU s per footage s, "
                    f"{secs / clip.wall_s:.1f}x real time (wall)"
                    + (" (frames from the cache: detection only)" if clip.cached else "")
                )
                runs = [r for s in clip.shots for r in s.continuous]
                print(
                    f"continuous cues: {len(runs)} ("
                    + ", ".join(f"{k} {sum(r[2] == k for r in runs)}" for k in ("slide", "pass-by"))
                    + f") over {100 * live_numbers(clip)['continuous_share']:.1f}% of the film"
                    " (the labels have no sliding contact: each one is to be looked at)"
                )
            if args.list:
                for s in clip.shots:
                    for c in s.impacts:
                        d_a = int(_near(np.array([c.frame]), lab[0])[0])
                        print(f"  {name} cue {c.frame} conf {c.confidence:.2f} d_audible {d_a}")
        keys = ["cues", "precision", "recall", "median_error", *SILENT]
        print(f"{'':8}" + "".join(f"{k:>13}" for k in keys))
        for name in ("before", "after", "chance"):
            if name in rows:
                print(
                    f"{name:8}"
                    + "".join(f"{_fmt(rows[name].get(k, float('nan'))):>13}" for k in keys)
                )
        for h in (0, 1):
            print(f"  half {h + 1} (frames {'< ' if h == 0 else '>= '}{HALF})")
            for name in ("before", "after", "chance"):
                if name in halves:
                    r = halves[name][h]
                    print(
                        f"{name:8}" + "".join(f"{_fmt(r.get(k, float('nan'))):>13}" for k in keys)
                    )
        if args.shots:
            print_shots(after_clip)
        rejected: dict[str, int] = {}
        for s in after_clip.shots:
            for k, v in s.rejected.items():
                rejected[k] = rejected.get(k, 0) + v
        print(f"rejected candidates (after): {dict(sorted(rejected.items()))}")
        if not args.range:
            r = rows["after"]
            silent = sum(r.get(k, 0.0) for k in SILENT)
            _aims(
                "film",
                [
                    ("impact precision >= 0.8", r["precision"], r["precision"] >= 0.8),
                    ("contact recall >= 0.6", r["recall"], r["recall"] >= 0.6),
                    ("median error <= 1 frame", r["median_error"], r["median_error"] <= 1),
                    ("no cue on silent motion", silent, silent == 0),
                ],
            )
        if args.calibrate:
            calibrate(after_clip, lab, args.media_dir, args.cache, cal.TABLE)
        if args.pr:
            print(
                "min_confidence  cues  precision  recall   | half 1: cues precision recall"
                " | half 2: cues precision recall"
            )
            for least in np.arange(0.0, 1.0, 0.05):
                c = with_threshold(after_clip, float(least))
                cues = [x.frame for s in c.shots for x in s.impacts]
                r = score(cues, lab)
                line = (
                    f"{least:14.2f} {int(r['cues']):5d} {_fmt(r['precision']):>10} "
                    f"{_fmt(r.get('recall', float('nan'))):>7}"
                )
                for h in (0, 1):
                    q = score(*_half(cues, lab, h))
                    line += (
                        f"   | {int(q['cues']):5d} {_fmt(q['precision']):>9}"
                        f" {_fmt(q.get('recall', float('nan'))):>6}"
                    )
                print(line)

    if args.only != "bbb":
        print(f"{'live action':24}{'':8}{'impacts':>9}{'false/min':>11}{'continuous':>12}")
        for name in LIVE:
            for dname, det in detectors.items():
                clip = find_events(det, args.media_dir / name, 0, None, args.cache)
                r = live_numbers(clip)
                print(
                    f"{name:24}{dname:8}{int(r['impacts']):9d}{r['false_per_min']:11.2f}"
                    f"{100 * r['continuous_share']:11.0f}%"
                )
                if args.shots and dname == "after":
                    print_shots(clip)
                if dname == "after":
                    _aims(
                        name,
                        [
                            ("<= 1 false impact/min", r["false_per_min"], r["false_per_min"] <= 1),
                            (
                                "<= 10% continuous",
                                r["continuous_share"],
                                r["continuous_share"] <= 0.10,
                            ),
                        ],
                    )


if __name__ == "__main__":
    main()
