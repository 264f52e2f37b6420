"""The one mapping between our data and the wire messages, both directions.

The gRPC servicer, the HTTP face (the same messages as JSON), the client and the Resolve script
all go through here, so an option, a pass or a state is named in one place. Unset fields take
the defaults of :class:`~sonicvision.server.options.FoleyOptions`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sonicvision.adapters.markers import MarkerRule
from sonicvision.server.options import DEFAULTS, FoleyOptions
from sonicvision.v1 import jobs_pb2 as pb

from .errors import InvalidRequest

PASS_VALUES = {"foley": pb.PASS_FOLEY, "analyze": pb.PASS_ANALYZE, "render": pb.PASS_RENDER}
PASS_NAMES = {pb.PASS_UNSPECIFIED: "foley", **{v: k for k, v in PASS_VALUES.items()}}
OUTPUT_FORMAT_VALUES = {
    "": pb.OUTPUT_FORMAT_UNSPECIFIED,
    "otio": pb.OUTPUT_FORMAT_OTIO,
    "fcp_xml": pb.OUTPUT_FORMAT_FCP_XML,
}
OUTPUT_FORMATS = {v: k for k, v in OUTPUT_FORMAT_VALUES.items()}
GUIDE_AUDIO_VALUES = {
    "auto": pb.GUIDE_AUDIO_AUTO,
    "off": pb.GUIDE_AUDIO_OFF,
    "only": pb.GUIDE_AUDIO_ONLY,
}
GUIDE_AUDIO_NAMES = {
    pb.GUIDE_AUDIO_UNSPECIFIED: DEFAULTS.guide_audio,
    **{v: k for k, v in GUIDE_AUDIO_VALUES.items()},
}
BACKEND_KINDS = {
    "detector": pb.BACKEND_KIND_DETECTOR,
    "describer": pb.BACKEND_KIND_DESCRIBER,
    "generator": pb.BACKEND_KIND_GENERATOR,
}


def enum_value(value: int, table: dict, enum_name: str, field: str):
    """Proto3 enums are open: an unknown number arrives intact and is refused here."""
    if value not in table:
        raise InvalidRequest(f"{value} is not a valid {enum_name} value", field=field)
    return table[value]


def state_name(value: int) -> str:
    return pb.JobState.Name(value).removeprefix("JOB_STATE_").lower()


def options_message(options: FoleyOptions, output_format: str = "") -> pb.FoleyOptions:
    """Our options as the wire message (paths as the server must see them)."""
    rule = options.marker_rule
    return pb.FoleyOptions(
        detector=options.detector,
        describer=options.describer,
        generator=options.generator,
        seed=options.seed,
        marker_rule=pb.MarkerRule(
            prefix=rule.prefix, colors=sorted(rule.colors), default_seconds=rule.default_seconds
        ),
        path_maps=list(options.path_maps),
        media_roots=[str(r) for r in options.media_roots],
        allow_missing=options.allow_missing,
        rate=options.rate or "",
        no_cue_markers=not options.cue_markers,
        target_lufs=options.mastering.target_lufs,
        output_format=OUTPUT_FORMAT_VALUES[output_format],
        guide_audio=GUIDE_AUDIO_VALUES[options.guide_audio],
        min_confidence=options.min_confidence,
    )


def options_from_message(message: pb.FoleyOptions) -> tuple[FoleyOptions, str]:
    """The wire message as our options, and the output format asked for."""
    rule = message.marker_rule
    default_rule = DEFAULTS.marker_rule
    options = replace(
        DEFAULTS,
        detector=message.detector or DEFAULTS.detector,
        describer=message.describer or DEFAULTS.describer,
        generator=message.generator or DEFAULTS.generator,
        seed=message.seed,
        marker_rule=MarkerRule(
            prefix=rule.prefix if rule.HasField("prefix") else default_rule.prefix,
            colors=frozenset(c.upper() for c in rule.colors),
            default_seconds=(
                rule.default_seconds
                if rule.HasField("default_seconds")
                else default_rule.default_seconds
            ),
        ),
        path_maps=list(message.path_maps),
        media_roots=[Path(r) for r in message.media_roots],
        allow_missing=message.allow_missing,
        rate=message.rate or None,
        cue_markers=not message.no_cue_markers,
        guide_audio=enum_value(
            message.guide_audio, GUIDE_AUDIO_NAMES, "GuideAudio", "options.guide_audio"
        ),
        min_confidence=(
            message.min_confidence
            if message.HasField("min_confidence")
            else DEFAULTS.min_confidence
        ),
        mastering=replace(
            DEFAULTS.mastering,
            target_lufs=(
                message.target_lufs
                if message.HasField("target_lufs")
                else DEFAULTS.mastering.target_lufs
            ),
        ),
    )
    output_format = enum_value(
        message.output_format, OUTPUT_FORMATS, "OutputFormat", "options.output_format"
    )
    return options, output_format
