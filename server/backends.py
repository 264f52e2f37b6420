"""Backend registries: ``--detector motion``, ``--generator library:DIR`` and the like.

Each stage has a dict of factories keyed by name; a spec is ``NAME`` or ``NAME:ARGUMENT``.
Unknown names raise ConfigError naming the choices. The paper's model backends
(``r2plus1d``, ``vlm``, ``ldm``) are named here so the error for them is plain: they need the
``gpu`` extra and local weights, and are not part of this build yet.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sonicvision.errors import ConfigError

from .describe import Describer, EmbeddedDescriber
from .detect.base import Detector
from .generate.base import Generator

MODEL_BACKENDS = {
    "r2plus1d": "the R(2+1)D-18 timestamp detector",
    "vlm": "the vision-language describer",
    "ldm": "the time-controlled latent diffusion generator",
}


def _motion(arg: str | None) -> Detector:
    from .detect.motion import MotionDetector

    return MotionDetector()


def _procedural(arg: str | None) -> Generator:
    from .generate.procedural import ProceduralGenerator

    return ProceduralGenerator()


def _library(arg: str | None) -> Generator:
    from .generate.library import LibraryGenerator

    if not arg:
        raise ConfigError(
            "library generator needs a folder: --generator library:DIR", field="generator"
        )
    return LibraryGenerator(Path(arg).expanduser())


def _embedded(arg: str | None) -> Describer:
    return EmbeddedDescriber()


DETECTORS: dict[str, Callable[[str | None], Detector]] = {"motion": _motion}
DESCRIBERS: dict[str, Callable[[str | None], Describer]] = {"none": _embedded}
GENERATORS: dict[str, Callable[[str | None], Generator]] = {
    "procedural": _procedural,
    "library": _library,
}


def _build(kind: str, registry: dict, spec: str):
    name, _, arg = spec.partition(":")
    name = name.strip().lower()
    if name in registry:
        return registry[name](arg or None)
    if name in MODEL_BACKENDS:
        raise ConfigError(
            f"{kind} backend {name!r} ({MODEL_BACKENDS[name]}) is not part of this build yet; "
            f"available: {', '.join(registry)}",
            field=kind,
        )
    raise ConfigError(
        f"unknown {kind} backend {name!r}; available: {', '.join(registry)}", field=kind
    )


def build_detector(spec: str = "motion") -> Detector:
    return _build("detector", DETECTORS, spec)


def build_describer(spec: str = "none") -> Describer:
    return _build("describer", DESCRIBERS, spec)


def build_generator(spec: str = "procedural") -> Generator:
    return _build("generator", GENERATORS, spec)
