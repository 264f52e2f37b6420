"""The import graph follows the data: every arrow points down the flow, none comes back up.

Layers, lowest first: the shared data and errors, the timeline layer (adapters), the networks,
options and shared helpers, then the stages in the order the data meets them (shots, when,
what, sound, placement), the pipeline and what runs it (evaluation, demo, training), the
service, and at the top the host scripts and the CLI. A module may import its own layer or
lower ones, never a higher one. Test-only builders (``server/testing``) are imported by no
module of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {  # pyproject's package-dir mapping
    "sonicvision": ROOT / "sonicvision",
    "sonicvision.adapters": ROOT / "adapters",
    "sonicvision.server": ROOT / "server",
    "sonicvision.plugin": ROOT / "plugin",
    "sonicvision.v1": ROOT / "proto" / "sonicvision" / "v1",
}
S = "sonicvision.server."
LAYERS: list[tuple[str, ...]] = [
    (
        "sonicvision",
        "sonicvision.errors",
        "sonicvision.events",
        "sonicvision.files",
        "sonicvision.v1",
    ),
    ("sonicvision.adapters",),
    (S + "models", S + "backends"),  # the registry names its factories as strings only
    (S + "options", S + "passes", S + "vocabulary", S + "audio", S + "metrics"),
    (S + "frames", S + "synthetic_scenes"),
    (S + "shots",),
    (S + "detect",),
    (S + "describe",),
    (S + "generate",),
    (S + "place", S + "guide"),
    (S + "pipeline",),
    (S + "evaluate", S + "demo", S + "train"),
    (S + "service",),
    ("sonicvision.plugin",),
    ("sonicvision.cli",),
]
TESTING = S + "testing"


def _module_name(path: Path) -> str:
    for package, folder in sorted(PACKAGE_DIRS.items(), key=lambda kv: -len(str(kv[1]))):
        if path.is_relative_to(folder):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join([package, *parts])
    raise AssertionError(path)


def _modules() -> dict[str, Path]:
    found = {}
    for folder in PACKAGE_DIRS.values():
        for path in folder.rglob("*.py"):
            if "test" in path.relative_to(ROOT).parts[:2] or path.name.endswith("_pb2_grpc.py"):
                continue
            if path.name.startswith("SonicVision "):  # Resolve's menu stub, not a module
                continue
            found[_module_name(path)] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.add(module)
            out.update(f"{module}.{a.name}" for a in node.names)
    return {m for m in out if m == "sonicvision" or m.startswith("sonicvision.")}


def _layer(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (level, len(prefix))
    return None if best is None else best[0]


def test_every_import_points_down_the_flow():
    modules = _modules()
    against = []
    for name, path in sorted(modules.items()):
        if name.startswith(TESTING):
            continue
        own = _layer(name)
        assert own is not None, f"{name} is in no layer: add it to LAYERS"
        for target in sorted(_imports(name, path)):
            if target.startswith(TESTING):
                against.append(f"{name} -> {target} (test-only builders)")
                continue
            level = _layer(target)
            if level is not None and level > own:
                against.append(f"{name} -> {target}")
    assert not against, "imports against the flow:\n" + "\n".join(against)


def test_the_layer_rule_sees_an_arrow_against_the_flow():
    assert _layer(S + "describe.embedded") < _layer(S + "generate.procedural")
    assert _layer("sonicvision.cli.service") > _layer(S + "service.app")
    fake = ROOT / "server" / "describe" / "x.py"
    assert _module_name(fake) == S + "describe.x"
