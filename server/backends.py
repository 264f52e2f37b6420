"""Backend registries: ``--detector motion``, ``--generator library:DIR`` and the like.

Each stage has a dict of factories keyed by name; a spec is ``NAME`` or ``NAME:ARGUMENT``.
Unknown names raise ConfigError naming the choices. The paper's model backends need the
``gpu`` extra and local weights: ``--detector r2plus1d:CKPT`` (trained with ``sonicvision
train detector``), ``--describer vlm:MODEL`` (a folder or an id in the local Hugging Face
cache), ``--generator ldm:DIR[,adapter=DIR]``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sonicvision.errors import ConfigError

from .describe import Describer, EmbeddedDescriber
from .detect.base import Detector
from .generate.base import Generator

MODEL_BACKENDS: dict[str, str] = {}


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


def _ldm(arg: str | None) -> Generator:
    if not arg:
        raise ConfigError(
            "ldm generator needs a model folder: --generator ldm:DIR[,adapter=DIR]",
            field="generator",
        )
    try:
        from .generate.ldm import LDMGenerator
    except ImportError as exc:
        raise ConfigError(
            f"the ldm generator needs the model stack ({exc.name} is missing): "
            "pip install 'sonicvision[gpu]'",
            field="generator",
        ) from exc
    return LDMGenerator.from_spec(arg)


def _embedded(arg: str | None) -> Describer:
    return EmbeddedDescriber()


def _r2plus1d(arg: str | None) -> Detector:
    try:
        from .models.r2plus1d import build_detector as build_r2plus1d
    except ImportError as exc:
        raise ConfigError(
            f"the r2plus1d detector needs the model stack ({exc.name} is missing): "
            "pip install 'sonicvision[gpu]'",
            field="detector",
        ) from exc
    return build_r2plus1d(arg)


def _vlm(arg: str | None) -> Describer:
    from .describe_vlm import build_vlm_describer  # no torch; it says what is missing

    return build_vlm_describer(arg)


DETECTORS: dict[str, Callable[[str | None], Detector]] = {"motion": _motion, "r2plus1d": _r2plus1d}
DESCRIBERS: dict[str, Callable[[str | None], Describer]] = {"none": _embedded, "vlm": _vlm}
GENERATORS: dict[str, Callable[[str | None], Generator]] = {
    "procedural": _procedural,
    "library": _library,
    "ldm": _ldm,
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
