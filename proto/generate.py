"""Regenerate the Python code for the gRPC contract; the only way the generated files change.

``python proto/generate.py`` rewrites ``*_pb2.py``, ``*_pb2_grpc.py`` and ``*.pyi`` beside the
``.proto`` files; ``--out DIR`` writes them elsewhere (the up-to-date test compares the two).
Protos are compiled with ``-I proto``, so ``sonicvision/v1/jobs.proto`` imports as
``sonicvision.v1.jobs_pb2``: setuptools maps the package ``sonicvision.v1`` to this folder.
"""

from __future__ import annotations

import argparse
import sys
from importlib.resources import files
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
GENERATED_SUFFIXES = ("_pb2.py", "_pb2_grpc.py", "_pb2.pyi")


def proto_files(root: Path = PROTO_ROOT) -> list[Path]:
    return sorted(root.glob("sonicvision/*/*.proto"))


def generated_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("sonicvision/*/*") if p.name.endswith(GENERATED_SUFFIXES))


def generate(out: Path = PROTO_ROOT) -> list[Path]:
    """Compile every proto under ``proto/sonicvision`` into ``out``; returns the files written."""
    from grpc_tools import protoc

    out.mkdir(parents=True, exist_ok=True)
    well_known = files("grpc_tools") / "_proto"  # google/protobuf/*.proto
    sources = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed on {', '.join(sources)}")
    return generated_files(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROTO_ROOT, help="output root (default: here)")
    args = parser.parse_args(argv)
    for path in generate(args.out.resolve()):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
