"""What a job is asked to do, checked; and the real work a job does with it.

``JobSpec`` is plain data (stored as JSON, rebuilt after a restart); ``validate_spec`` checks
every option and path before a job is queued, and again before it runs; ``run_pipeline``
refuses media outside the roots, then runs the pass.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sonicvision.adapters.errors import MediaNotFoundError
from sonicvision.adapters.io import read_timeline
from sonicvision.adapters.markers import MarkerRule
from sonicvision.adapters.media import MediaResolver, PathMapping
from sonicvision.adapters.picture import visible_picture
from sonicvision.adapters.timecode import parse_rate
from sonicvision.errors import ConfigError
from sonicvision.server.pipeline import FoleyOptions, FoleyResult, Progress, analyze, foley, render
from sonicvision.server.place import Mastering

from .backends import MODEL_KINDS, REGISTRIES
from .errors import InvalidRequest
from .security import PathGuard

PASSES: dict[str, Callable[..., FoleyResult]] = {
    "foley": foley,
    "analyze": analyze,
    "render": render,
}
OUTPUT_SUFFIXES = {"otio": ".otio", "fcp_xml": ".xml"}


@dataclass(frozen=True)
class JobSpec:
    """Everything a job was asked to do, as plain data: stored as JSON, rebuilt after restarts."""

    job_pass: str = "foley"
    timeline_name: str = ""  # uploads live at jobs/<id>/input/<timeline_name>
    server_path: str = ""  # or a timeline on the server, under a media root
    detector: str = "motion"
    describer: str = "none"
    generator: str = "procedural"
    seed: int = 0
    marker_prefix: str = "SFX:"
    marker_colors: tuple[str, ...] = ()
    marker_seconds: float = 2.0
    path_maps: tuple[str, ...] = ()
    media_roots: tuple[str, ...] = ()  # empty until submit fills in the server's roots
    allow_missing: bool = False
    rate: str = ""
    cue_markers: bool = True
    target_lufs: float = -20.0
    output_format: str = ""  # "", "otio" or "fcp_xml"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> JobSpec:
        known = {f.name: f for f in dataclasses.fields(cls)}
        return cls(
            **{
                k: tuple(v) if isinstance(v, list) else v
                for k, v in data.items()
                if k in known  # a newer server's extra keys are ignored
            }
        )

    def options(self) -> FoleyOptions:
        return FoleyOptions(
            detector=self.detector,
            describer=self.describer,
            generator=self.generator,
            seed=self.seed,
            marker_rule=MarkerRule(
                prefix=self.marker_prefix,
                colors=frozenset(c.upper() for c in self.marker_colors),
                default_seconds=self.marker_seconds,
            ),
            media_roots=[Path(r) for r in self.media_roots],
            path_maps=list(self.path_maps),
            allow_missing=self.allow_missing,
            rate=self.rate or None,
            cue_markers=self.cue_markers,
            mastering=Mastering(target_lufs=self.target_lufs),
        )

    def output_name(self) -> str:
        """``reel2_foley.otio``: the input's stem, the pass, the output format's suffix."""
        stem, suffix = os.path.splitext(self.timeline_name)
        if self.output_format:
            suffix = OUTPUT_SUFFIXES[self.output_format]
        elif suffix.lower() not in OUTPUT_SUFFIXES.values():
            suffix = ".otio"
        return f"{stem}_{self.job_pass}{suffix.lower()}"


def _check_backend(kind: str, spec: str, guard: PathGuard) -> None:
    name, _, arg = spec.partition(":")
    name = name.strip().lower()
    registry = REGISTRIES[kind]
    if name not in registry:
        what = "is not part of this build yet" if MODEL_KINDS.get(name) == kind else "is unknown"
        raise ConfigError(
            f"{kind} backend {name!r} {what}; available: {', '.join(registry)}", field=kind
        )
    if kind == "generator" and name == "library":
        if not arg:
            raise ConfigError("library generator needs a folder: library:DIR", field=kind)
        guard.folder(arg, field="options.generator")
    if kind == "generator" and name == "ldm" and not arg:
        raise ConfigError("ldm generator needs a model folder: ldm:DIR[,adapter=DIR]", field=kind)
    if name in MODEL_KINDS and arg:
        _check_model_paths(kind, name, arg, guard)


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _check_model_paths(kind: str, name: str, arg: str, guard: PathGuard) -> None:
    """A job may load model weights only from folders under the server's roots.

    A VLM named by a Hugging Face id (``Qwen/Qwen2.5-VL-3B-Instruct``) is read from the
    server's own local cache and is allowed; every other source and ``adapter=`` is a path.
    """
    source, _, rest = arg.partition(",")
    paths = [source.strip()]
    for item in rest.split(","):
        key, eq, value = item.partition("=")
        if eq and key.strip() == "adapter":
            paths.append(value.strip())
    for path in paths:
        if (
            name == "vlm"
            and path == source.strip()
            and _HUB_ID.match(path)
            and not Path(path).exists()
        ):
            continue
        guard.folder(path, field=f"options.{kind}")


def validate_spec(spec: JobSpec, guard: PathGuard) -> JobSpec:
    """Every option checked before a job is queued; the server's roots filled in if none given."""
    if spec.job_pass not in PASSES:
        raise InvalidRequest(f"unknown pass {spec.job_pass!r}", field="job_pass")
    for kind in ("detector", "describer", "generator"):
        _check_backend(kind, getattr(spec, kind), guard)
    if not (math.isfinite(spec.marker_seconds) and 0 < spec.marker_seconds <= 3600):
        raise InvalidRequest(
            f"marker seconds {spec.marker_seconds} is not in (0, 3600]",
            field="options.marker_rule.default_seconds",
        )
    if not (math.isfinite(spec.target_lufs) and -70 <= spec.target_lufs <= 0):
        raise InvalidRequest(
            f"target loudness {spec.target_lufs} LUFS is not in [-70, 0]",
            field="options.target_lufs",
        )
    if spec.output_format not in ("", *OUTPUT_SUFFIXES):
        raise InvalidRequest(f"unknown output format {spec.output_format!r}", field="output_format")
    for rule in spec.path_maps:
        PathMapping.parse(rule)
    if spec.rate:
        parse_rate(spec.rate, field="options.rate")
    roots = [str(guard.folder(r, field="options.media_roots")) for r in spec.media_roots] or [
        str(r) for r in guard.roots
    ]
    return dataclasses.replace(spec, media_roots=tuple(roots))


def check_media(timeline, timeline_path: Path, options: FoleyOptions, guard: PathGuard) -> None:
    """Refuse before any work if a clip's media, as the pipeline will find it, is outside roots."""
    resolver = MediaResolver(timeline_path, options.media_roots, options.path_maps)
    pieces, _notes = visible_picture(timeline)
    for piece in pieces:
        try:
            found = resolver.resolve(piece.clip)
        except MediaNotFoundError:
            continue  # the pipeline reports it with everything it tried (or skips it)
        guard.media(found, piece.clip.name)


Runner = Callable[[JobSpec, Path, Path, Progress], FoleyResult]


def run_pipeline(
    spec: JobSpec, timeline: Path, result_dir: Path, progress: Progress
) -> FoleyResult:
    """The real work of a job: the media guard, then the pipeline pass into ``result_dir``."""
    options = spec.options()
    if spec.job_pass != "render":  # render reads no media: cues and prompts only
        guard = PathGuard(spec.media_roots)
        check_media(read_timeline(timeline, rate=options.rate), timeline, options, guard)
    return PASSES[spec.job_pass](timeline, result_dir / spec.output_name(), options, progress)
