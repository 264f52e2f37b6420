"""The ``sonicvision`` command: a thin layer that wires options to the library.

Every subcommand that reports has ``--json`` (machine-readable on stdout; progress and
warnings go to stderr), and every deliberate error is printed as one clear line with exit
status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from sonicvision.errors import SonicVisionError

logger = logging.getLogger("sonicvision")


class ProgressBars:
    """One tqdm bar per stage, fed by the pipeline's single progress callback."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(total=total, desc=f"{stage:>8}", unit="item", leave=True)
        bar.total = total
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def _timeline_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("timeline", type=Path, help="editor timeline (.otio, .xml, .edl, .aaf, ...)")
    p.add_argument("--rate", help="frame rate for EDLs, e.g. 23.976, 25, 29.97")
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
    p.add_argument("--sfx-prefix", default="SFX:", help="marker text prefix for sound prompts")
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
        default=2.0,
        help="length of a sound prompt whose marker has no duration",
    )
    p.add_argument("--json", action="store_true", help="print a JSON report on stdout")


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
    from sonicvision.server.shots import find_shots, shot_summary, timecode

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


COMMANDS: dict[str, tuple[Callable, Callable[[argparse.ArgumentParser], None], str]] = {
    "shots": (
        cmd_shots,
        _timeline_options,
        "list the shots and sound-prompt markers of a timeline",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sonicvision", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="count", default=0)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (func, add_options, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_options(p)
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.ERROR,  # third-party adapters chatter at WARNING on the root logger
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logger.setLevel(logging.WARNING - 10 * min(args.verbose, 2))
    try:
        return args.func(args)
    except SonicVisionError as exc:
        print(f"sonicvision {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sonicvision {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
