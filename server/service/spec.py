"""What a job is asked to do, checked; and the real work a job does with it.

``JobSpec`` is plain data (stored as JSON, rebuilt after a restart); ``validate_spec`` checks
every option and path before a job is queued, and again before it runs; ``run_pipeline``
refuses media outside the roots, then runs the pass.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sonicvision.adapters.errors import MediaNotFoundError
from sonicvision.adapters.io import read_timeline
from sonicvision.adapters.markers import read_prompts
from sonicvision.adapters.media import MediaResolver, PathMapping
from sonicvision.adapters.picture import visible_picture
from sonicvision.adapters.timecode import parse_rate
from sonicvision.errors import ConfigError
from sonicvision.server import backends
from sonicvision.server.options import FoleyOptions
from sonicvision.server.pipeline import (
    PASSES,
    FoleyResult,
    PictureScan,
    Progress,
    SoundBatches,
    cues_from_markers,
    run,
    scan_picture,
    synthesize_batches,
)

from .errors import InvalidRequest
from .security import PathGuard

OUTPUT_SUFFIXES = {"otio": ".otio", "fcp_xml": ".xml"}
MAX_SOUND_S = 300.0  # the longest sound one marker may ask of the server


@dataclass(frozen=True)
class JobSpec:
    """Everything a job was asked to do, as plain data: stored as JSON, rebuilt after restarts."""

    job_pass: str = "foley"
    timeline_name: str = ""  # uploads live at jobs/<id>/input/<timeline_name>
    server_path: str = ""  # or a timeline on the server, under a media root
    output_format: str = ""  # "", "otio" or "fcp_xml"
    options: FoleyOptions = dataclasses.field(default_factory=FoleyOptions)

    def to_dict(self) -> dict:
        return {
            "job_pass": self.job_pass,
            "timeline_name": self.timeline_name,
            "server_path": self.server_path,
            "output_format": self.output_format,
            "options": self.options.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> JobSpec:
        return cls(
            job_pass=data.get("job_pass", "foley"),
            timeline_name=data.get("timeline_name", ""),
            server_path=data.get("server_path", ""),
            output_format=data.get("output_format", ""),
            options=FoleyOptions.from_dict(data.get("options", {})),
        )

    def output_name(self) -> str:
        """``reel2_foley.otio``: the input's stem, the pass, the output format's suffix."""
        stem, suffix = os.path.splitext(self.timeline_name)
        if self.output_format:
            suffix = OUTPUT_SUFFIXES[self.output_format]
        elif suffix.lower() not in OUTPUT_SUFFIXES.values():
            suffix = ".otio"
        return f"{stem}_{self.job_pass}{suffix.lower()}"


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _check_backend(kind: str, spec: str, guard: PathGuard) -> None:
    """The backend exists, has the argument it needs, and loads weights or sounds only from
    folders under the server's roots. A source that may be a Hugging Face id
    (``Qwen/Qwen2.5-VL-3B-Instruct``) is read from the server's own local cache and is allowed.
    """
    backend, argument = backends.find(kind, spec)
    if backend.argument_required and not argument:
        raise ConfigError(
            f"the {backend.name} {kind} needs {backend.argument_is}: {backend.usage}", field=kind
        )
    for part, path in backends.argument_paths(backend, argument):
        if part == backends.SOURCE and backend.hub_source and _HUB_ID.match(path):
            if not Path(path).exists():
                continue
        guard.folder(path, field=f"options.{kind}")


def validate_spec(spec: JobSpec, guard: PathGuard) -> JobSpec:
    """Every option checked before a job is queued; the server's roots filled in if none given."""
    if spec.job_pass not in PASSES:
        raise InvalidRequest(f"unknown pass {spec.job_pass!r}", field="job_pass")
    options = spec.options
    for kind in backends.KINDS:
        _check_backend(kind, getattr(options, kind), guard)
    options.check()
    seconds = options.marker_rule.default_seconds
    if seconds > MAX_SOUND_S:  # a server renders no longer prompt than this
        raise InvalidRequest(
            f"marker seconds {seconds} is not in (0, {MAX_SOUND_S:g}]",
            field="options.marker_rule.default_seconds",
        )
    if spec.output_format not in ("", *OUTPUT_SUFFIXES):
        raise InvalidRequest(f"unknown output format {spec.output_format!r}", field="output_format")
    for rule in options.path_maps:
        PathMapping.parse(rule)
    if options.rate:
        parse_rate(options.rate, field="options.rate")
    roots = [guard.folder(str(r), field="options.media_roots") for r in options.media_roots] or [
        Path(r) for r in guard.roots
    ]
    return dataclasses.replace(
        spec,
        options=dataclasses.replace(
            options, media_roots=[Path(r) for r in roots], confine_media=True
        ),
    )


def check_media(timeline, timeline_path: Path, options: FoleyOptions, guard: PathGuard) -> None:
    """Refuse before any work if a clip's media, as the pipeline will find it, is outside roots."""
    resolver = MediaResolver(timeline_path, options.media_roots, options.path_maps, confine=True)
    pieces, _notes = visible_picture(timeline)
    for piece in pieces:
        try:
            found = resolver.resolve(piece.clip)
        except MediaNotFoundError:
            continue  # the pipeline reports it with everything it tried (or skips it)
        guard.media(found, piece.clip.name)


def check_sound_lengths(timeline, options: FoleyOptions, job_pass: str) -> None:
    """No sound longer than the picture or ``MAX_SOUND_S``: a marker's length is what a job
    allocates (48 kHz stereo, several copies), so one ten-minute marker costs gigabytes."""
    picture = timeline.duration().to_seconds()
    limit = min(MAX_SOUND_S, max(picture, 1.0))
    if PASSES[job_pass].finds_events:
        spans = [(p.text, p.record_range.duration.to_seconds()) for p in
                 read_prompts(timeline, options.marker_rule)[0]]  # fmt: skip
    else:
        spans = [
            (e.text, e.duration.to_seconds())
            for e in cues_from_markers(timeline, options.marker_rule).events
        ]
    for text, seconds in spans:
        if seconds > limit + 1e-6:
            raise InvalidRequest(
                f"marker {text[:80]!r} asks for {seconds:.1f} s of sound; the limit is "
                f"{limit:.1f} s (the picture's length, at most {MAX_SOUND_S:g} s)",
                field="markers",
            )


Runner = Callable[..., FoleyResult]


def run_pipeline(
    spec: JobSpec,
    timeline: Path,
    result_dir: Path,
    progress: Progress,
    backends: backends.Provider = backends.FRESH,
    scan: PictureScan = scan_picture,
    synthesize: SoundBatches = synthesize_batches,
) -> FoleyResult:
    """The real work of a job: the media guard, then the pipeline pass into ``result_dir``;
    ``scan`` and ``synthesize``: where pictures are analysed and sounds made (``engine.py``)."""
    options = spec.options
    parsed = read_timeline(timeline, rate=options.rate)
    check_sound_lengths(parsed, options, spec.job_pass)
    if PASSES[spec.job_pass].finds_events:  # render reads no media: cues and prompts only
        guard = PathGuard([str(r) for r in options.media_roots])
        check_media(parsed, timeline, options, guard)
    output = result_dir / spec.output_name()
    return run(spec.job_pass, timeline, output, options, progress, backends, scan, synthesize)
