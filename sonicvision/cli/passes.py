"""The main job's commands: ``shots``, ``foley``, ``analyze``, ``render``, ``demo``, ``eval``.

Defaults come from :class:`~sonicvision.server.options.FoleyOptions` and the backend help from
the registry (``server/backends.py``), so neither is restated here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sonicvision.server import backends
from sonicvision.server.options import DEFAULTS, GUIDE_MODES, FoleyOptions, Mastering
from sonicvision.server.passes import PASSES

from .progress import ProgressBars
from .remote import remote_options, run_remote


def _timeline_options(p: argparse.ArgumentParser, reads_media: bool = True) -> None:
    p.add_argument("timeline", type=Path, help="editor timeline (.otio, .xml, .edl, .aaf, ...)")
    p.add_argument("--rate", help="frame rate for EDLs, e.g. 23.976, 25, 29.97")
    if reads_media:
        _media_options(p)
    _prompt_options(p)
    p.add_argument("--json", action="store_true", help="print a JSON report on stdout")


def _media_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--media-root",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="folder to search for media by file name (repeatable)",
    )
    p.add_argument(
        "--path-map",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="rewrite media path prefixes, e.g. /Volumes/Media=/mnt/media",
    )
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="skip clips whose media cannot be found (with a warning)",
    )


def _prompt_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sfx-prefix",
        default=DEFAULTS.marker_rule.prefix,
        help="marker text prefix for sound prompts (default: %(default)s)",
    )
    p.add_argument(
        "--sfx-color",
        action="append",
        default=[],
        metavar="COLOR",
        help="marker colour that makes a marker a sound prompt (repeatable)",
    )
    p.add_argument(
        "--marker-seconds",
        type=float,
        default=DEFAULTS.marker_rule.default_seconds,
        help="length of a sound prompt whose marker has no duration (default: %(default)s)",
    )


def _marker_rule(args):
    from sonicvision.adapters.markers import MarkerRule

    return MarkerRule(
        prefix=args.sfx_prefix,
        colors=frozenset(c.upper() for c in args.sfx_color),
        default_seconds=args.marker_seconds,
    )


def cmd_shots(args) -> int:
    from sonicvision.adapters import read_timeline
    from sonicvision.adapters.markers import read_prompts
    from sonicvision.adapters.media import MediaResolver
    from sonicvision.adapters.timecode import timecode
    from sonicvision.server.shots import find_shots, shot_summary

    timeline = read_timeline(args.timeline, rate=args.rate)
    resolver = MediaResolver(args.timeline, args.media_root, args.path_map)
    bars = ProgressBars(enabled=not args.json and sys.stderr.isatty())
    try:
        shots = find_shots(timeline, resolver, allow_missing=args.allow_missing, progress=bars)
    finally:
        bars.close()
    prompts, marker_notes = read_prompts(timeline, _marker_rule(args))
    report = {
        "timeline": timeline.name,
        "file": str(args.timeline),
        "shots": shot_summary(shots.shots, timeline),
        "prompts": [
            {
                "text": p.text,
                "scope": p.scope,
                "record_in": timecode(p.record_range.start_time, timeline),
                "record_out": timecode(p.record_range.end_time_exclusive(), timeline),
                "start_s": round(p.record_range.start_time.to_seconds(), 4),
                "duration_s": round(p.record_range.duration.to_seconds(), 4),
            }
            for p in prompts
        ],
        "notes": shots.notes + marker_notes,
        "skipped": shots.skipped,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"{report['timeline'] or args.timeline.name}: {len(report['shots'])} shots, "
        f"{len(report['prompts'])} sound prompts"
    )
    for s in report["shots"]:
        print(
            f"  shot {s['index']:>3}  {s['record_in']} - {s['record_out']}  "
            f"{s['duration_s']:8.3f}s  {s['clip']}" + (f"  ({s['note']})" if s["note"] else "")
        )
    for p in report["prompts"]:
        print(
            f"  SFX       {p['record_in']} - {p['record_out']}  "
            f"{p['duration_s']:8.3f}s  {p['text']}"
        )
    for note in report["notes"]:
        print(f"  note: {note}")
    return 0


def job_options(pass_name: str):
    """The options of one pass, and only those it uses: ``analyze`` renders nothing, so it has
    no --generator or --seed; ``render`` reads no pictures, so it has no --detector."""
    job = PASSES[pass_name]

    def add(p: argparse.ArgumentParser) -> None:
        _timeline_options(p, reads_media=job.finds_events)
        p.add_argument(
            "-o",
            "--output",
            type=Path,
            required=True,
            help="result timeline (format by extension; never the input)",
        )
        for kind in backends.KINDS:
            if job.renders if kind == "generator" else job.finds_events:
                p.add_argument(
                    f"--{kind}",
                    default=getattr(DEFAULTS, kind),
                    metavar="SPEC",
                    help=f"{backends.help_text(kind)} (default: %(default)s)",
                )
        if job.renders:
            p.add_argument(
                "--audio-dir", type=Path, help="where WAVs go (default: OUTPUT_audio/ beside it)"
            )
            p.add_argument(
                "--seed",
                type=int,
                default=DEFAULTS.seed,
                help="variation seed; same seed, same sounds (default: %(default)s)",
            )
            p.add_argument(
                "--target-lufs",
                type=float,
                default=DEFAULTS.mastering.target_lufs,
                help="loudness of each clip (default: %(default)s)",
            )
        if job.finds_events:
            p.add_argument(
                "--guide-audio",
                choices=GUIDE_MODES,
                default=DEFAULTS.guide_audio,
                help="production sound as a timing guide: auto (where a clip has audio), off, "
                "or only (cues from the sound's transients alone) (default: %(default)s)",
            )
            p.add_argument(
                "--min-confidence",
                type=float,
                default=DEFAULTS.min_confidence,
                help="leave out impact cues below this calibrated confidence, 0..1, after the "
                "guide (0.5: fewer, surer cues) (default: %(default)s)",
            )
        if job.cue_markers is None:
            p.add_argument("--no-cues", action="store_true", help="do not add editable cue markers")
        remote_options(p)

    return add


def _options(args) -> FoleyOptions:
    """The options a pass was given; what it does not offer keeps its default."""
    given = vars(args)
    return FoleyOptions(
        detector=given.get("detector", DEFAULTS.detector),
        describer=given.get("describer", DEFAULTS.describer),
        generator=given.get("generator", DEFAULTS.generator),
        seed=given.get("seed", DEFAULTS.seed),
        marker_rule=_marker_rule(args),
        media_roots=list(given.get("media_root", [])),
        path_maps=list(given.get("path_map", [])),
        allow_missing=given.get("allow_missing", False),
        rate=args.rate,
        audio_dir=given.get("audio_dir"),
        cue_markers=not given.get("no_cues", False),
        guide_audio=given.get("guide_audio", DEFAULTS.guide_audio),
        min_confidence=given.get("min_confidence", DEFAULTS.min_confidence),
        mastering=Mastering(target_lufs=given.get("target_lufs", DEFAULTS.mastering.target_lufs)),
    ).check()


def _report_job(result, args, title: str) -> int:
    summary = result.summary()
    if args.json:
        summary["events_list"] = _events_list(result)
        summary["clips_list"] = [str(c.path) for c in result.clips]
    return _print_report(summary, args, title)


def _events_list(result) -> list[dict]:
    return [
        {
            "text": e.text,
            "start_s": round(e.start.to_seconds(), 4),
            "end_s": round(e.end.to_seconds(), 4),
            "onscreen": e.onscreen,
            "origin": e.origin.value,
            "text_source": e.text_source,
            "continuous": e.continuous,
            "placed_by": e.placed_by,
        }
        for e in result.analysis.events
    ]


def _print_report(summary: dict, args, title: str) -> int:
    """What a job wrote, as one summary: the same for a local run and a ``--server`` one."""
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"{title}: {summary['shots']} shots, {summary['events']} events "
        f"({summary['onscreen']} on-screen, {summary['offscreen']} off-screen), "
        f"{summary['clips']} clips, {summary['audio_seconds']:.1f} s of audio "
        f"in {summary['seconds']:.1f} s"
    )
    print(f"  wrote {summary['output']}")
    for note in summary["notes"]:
        print(f"  note: {note}")
    return 0


def _run_job(args, job, title: str) -> int:
    if args.server:
        return run_remote(args, title, _options(args), lambda s: _print_report(s, args, title))
    bars = ProgressBars(enabled=not args.json and sys.stderr.isatty())
    try:
        result = job(args.timeline, args.output, _options(args), bars)
    finally:
        bars.close()
    return _report_job(result, args, title)


def cmd_foley(args) -> int:
    from sonicvision.server.pipeline import foley

    return _run_job(args, foley, "foley")


def cmd_analyze(args) -> int:
    from sonicvision.server.pipeline import analyze

    return _run_job(args, analyze, "analyze")


def cmd_render(args) -> int:
    from sonicvision.server.pipeline import render

    return _run_job(args, render, "render")


def _demo_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("sonicvision-demo"), help="demo folder")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed)
    p.add_argument("--json", action="store_true")


def cmd_demo(args) -> int:
    from sonicvision.server.demo import run_demo

    bars = ProgressBars(enabled=not args.json and sys.stderr.isatty())
    try:
        report = run_demo(args.out, FoleyOptions(seed=args.seed), bars)
    finally:
        bars.close()
    data = {
        "summary": report.result.summary(),
        "timing": report.timing.to_dict(),
        "events": report.rows,
    }
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    s = data["summary"]
    print(f"demo cut: {args.out / 'demo_cut.otio'}")
    print(
        f"result:   {s['output']}  ({s['clips']} clips, {s['audio_seconds']:.1f} s of audio, "
        f"{s['seconds']:.1f} s)"
    )
    print(f"\n  {'expected':<10} {'at (s)':>8}  {'found':<45} {'error':>14}")
    for row in report.rows:
        err = (
            f"{row['error_ms']:+.0f} ms {row['error_frames']:+.1f} f"
            if row["error_ms"] is not None
            else "missed"
        )
        found = str(row["found"] or "-")[:45]
        print(f"  {row['expected']:<10} {row['at_s']:8.3f}  {found:<45} {err:>14}")
    t = report.timing
    print(
        f"\n  onset acc {t.onset_acc:.2f}  onset AP {t.onset_ap:.2f}  "
        f"time acc {t.time_acc:.2f}  IoU {t.iou:.2f}"
    )
    return 0


def _eval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("result", type=Path, help="a timeline written by foley/render")
    p.add_argument(
        "--expected",
        type=Path,
        required=True,
        help='JSON: {"events": [{"onset_s": .., "end_s": .., "continuous": ..}]}',
    )
    p.add_argument("--rate", help="frame rate for the activity vectors (default: timeline's)")
    p.add_argument("--json", action="store_true")


def cmd_eval(args) -> int:
    from sonicvision.adapters import read_timeline
    from sonicvision.adapters.timecode import parse_rate, timeline_rate
    from sonicvision.server.evaluate import evaluate_timeline, load_expected

    timeline = read_timeline(args.result)
    rate = parse_rate(args.rate) or timeline_rate(timeline)
    report = evaluate_timeline(timeline, load_expected(args.expected), rate)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(
            f"onset acc {report.onset_acc:.3f}  onset AP {report.onset_ap:.3f}  "
            f"time acc {report.time_acc:.3f}  IoU {report.iou:.3f}  "
            f"({report.n_found} onsets found, {report.n_expected} expected)"
        )
    return 0
