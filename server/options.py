"""Everything a run can be told, and the only home of its defaults.

The CLI's argparse defaults, the gRPC/HTTP mapping (``service/wire.py``) and the server's
stored ``JobSpec`` all derive from :class:`FoleyOptions`, so a default is written once. The
marker rule's own defaults live with it (``adapters/markers.py``) and are read from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from sonicvision.adapters.markers import MarkerRule
from sonicvision.errors import ConfigError

MAX_SEED = 2**32 - 1  # numpy's seeds; the server stores them as int64
MAX_MARKER_SECONDS = 3600.0  # one sound prompt may last an hour, no more
# Production sound as a timing guide (server/guide): on where a clip has audio, off, or alone.
GUIDE_MODES = ("auto", "off", "only")


@dataclass(frozen=True)
class Mastering:
    """Loudness target per clip and the ceiling nothing may cross."""

    target_lufs: float = -20.0
    ceiling_dbfs: float = -1.0
    fade_in_s: float = 0.01
    fade_out_s: float = 0.08


@dataclass
class FoleyOptions:
    """What the CLI, the server and the host scripts can ask of a pass."""

    detector: str = "motion"
    describer: str = "none"
    generator: str = "procedural"
    seed: int = 0
    marker_rule: MarkerRule = field(default_factory=MarkerRule)
    media_roots: list[Path] = field(default_factory=list)
    path_maps: list[str] = field(default_factory=list)
    allow_missing: bool = False
    rate: str | None = None
    audio_dir: Path | None = None
    analysis_width: int = 256  # px: the decoder scales every frame to this width for analysis
    cue_markers: bool = True
    guide_audio: str = "auto"  # production sound as a timing guide: "auto", "off", "only"
    # Impact cues whose calibrated confidence (after the guide) is below this are left out and
    # counted in the report. 0: every impact (see README for the precision/recall it trades).
    min_confidence: float = 0.0
    mastering: Mastering = field(default_factory=Mastering)
    confine_media: bool = False  # media only under media_roots (the server sets it)

    def check(self) -> FoleyOptions:
        """Every number in range, or a ConfigError naming the option (CLI and server alike)."""
        checks = [
            ("seed", self.seed, 0 <= self.seed <= MAX_SEED, f"an integer in [0, {MAX_SEED}]"),
            (
                "marker_rule.default_seconds",
                self.marker_rule.default_seconds,
                0 < self.marker_rule.default_seconds <= MAX_MARKER_SECONDS,
                f"seconds in (0, {MAX_MARKER_SECONDS}]",
            ),
            (
                "target_lufs",
                self.mastering.target_lufs,
                -70 <= self.mastering.target_lufs <= 0,
                "LUFS in [-70, 0]",
            ),
            (
                "min_confidence",
                self.min_confidence,
                0.0 <= self.min_confidence <= 1.0,
                "a confidence in [0, 1]",
            ),
            (
                "analysis_width",
                self.analysis_width,
                64 <= self.analysis_width <= 4096,
                "pixels in [64, 4096]",
            ),
        ]
        for name, value, ok, wanted in checks:
            finite = not isinstance(value, float) or math.isfinite(value)
            if not (finite and ok):
                raise ConfigError(
                    f"{name} is {value!r}; it must be {wanted}", field=f"options.{name}"
                )
        return self

    def __post_init__(self) -> None:
        if self.guide_audio not in GUIDE_MODES:
            raise ConfigError(
                f"Unknown guide audio mode {self.guide_audio!r}: choose one of "
                f"{', '.join(GUIDE_MODES)}.",
                field="guide_audio",
            )

    def to_dict(self) -> dict:
        """Plain JSON data (what a stored job keeps); ``audio_dir`` is the caller's, not kept."""
        rule = self.marker_rule
        return {
            "detector": self.detector,
            "describer": self.describer,
            "generator": self.generator,
            "seed": self.seed,
            "marker_prefix": rule.prefix,
            "marker_colors": sorted(rule.colors),
            "marker_seconds": rule.default_seconds,
            "media_roots": [str(r) for r in self.media_roots],
            "path_maps": list(self.path_maps),
            "allow_missing": self.allow_missing,
            "rate": self.rate or "",
            "analysis_width": self.analysis_width,
            "cue_markers": self.cue_markers,
            "confine_media": self.confine_media,
            "guide_audio": self.guide_audio,
            "min_confidence": self.min_confidence,
            "target_lufs": self.mastering.target_lufs,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FoleyOptions:
        """The inverse of :meth:`to_dict`; missing keys take the defaults, unknown ones are
        ignored (a newer server's extra keys)."""
        base = cls()
        simple = {f.name for f in fields(cls)} & set(data) - {"media_roots", "rate"}
        rule = base.marker_rule
        return replace(
            base,
            **{k: data[k] for k in simple},
            media_roots=[Path(r) for r in data.get("media_roots", ())],
            rate=data.get("rate") or None,
            marker_rule=MarkerRule(
                prefix=data.get("marker_prefix", rule.prefix),
                colors=frozenset(c.upper() for c in data.get("marker_colors", rule.colors)),
                default_seconds=data.get("marker_seconds", rule.default_seconds),
            ),
            mastering=replace(
                base.mastering,
                target_lufs=data.get("target_lufs", base.mastering.target_lufs),
            ),
        )


DEFAULTS = FoleyOptions()
