"""The ``sonicvision`` command: a thin layer that wires options to the library.

Every subcommand that reports has ``--json`` (machine-readable on stdout; progress and
warnings go to stderr), and every deliberate error is printed as one clear line with exit
status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from sonicvision import __version__
from sonicvision.errors import SonicVisionError
from sonicvision.plugin.install import INSTALL_HELP, cmd_install, install_options
from sonicvision.server.passes import PASSES

from .formatting import DefaultsHelp
from .passes import (
    _demo_options,
    _eval_options,
    _timeline_options,
    cmd_analyze,
    cmd_demo,
    cmd_eval,
    cmd_foley,
    cmd_render,
    cmd_shots,
    job_options,
)
from .service import JOBS_HELP, SERVE_HELP, cmd_jobs, cmd_serve, jobs_options, serve_options
from .train import TRAIN_HELP, cmd_train, train_options

logger = logging.getLogger("sonicvision")


COMMANDS: dict[str, tuple[Callable, Callable[[argparse.ArgumentParser], None], str]] = {
    "shots": (
        cmd_shots,
        _timeline_options,
        "list the shots and sound-prompt markers of a timeline",
    ),
    **{
        name: (command, job_options(name), PASSES[name].summary)
        for name, command in (
            ("foley", cmd_foley),
            ("analyze", cmd_analyze),
            ("render", cmd_render),
        )
    },
    "demo": (cmd_demo, _demo_options, "make a demo cut with known events, run foley, score it"),
    "eval": (cmd_eval, _eval_options, "the paper's timing metrics for a rendered timeline"),
    "serve": (cmd_serve, serve_options, SERVE_HELP),
    "jobs": (cmd_jobs, jobs_options, JOBS_HELP),
    "train": (cmd_train, train_options, TRAIN_HELP),
    "install": (cmd_install, install_options, INSTALL_HELP),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sonicvision",
        description=__doc__.splitlines()[0],
        formatter_class=DefaultsHelp,
    )
    parser.add_argument("--version", action="version", version=f"sonicvision {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more detail on stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (func, add_options, help_text) in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            formatter_class=DefaultsHelp,
        )
        add_options(p)
        # -v after the subcommand too; SUPPRESS keeps one given before it
        p.add_argument(
            "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more detail"
        )
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
