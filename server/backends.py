"""Every backend a stage can run, written as data: ``--detector motion``, ``--generator ldm:DIR``.

A spec is ``NAME`` or ``NAME:ARGUMENT``. Each backend is one :class:`Backend` entry below: its
stage, its name, where its factory lives (imported only when it is built, so the CLI starts
without torch), what its argument is, which parts of the argument are paths (for the server's
guard), the modules it needs and a one-line summary. The CLI help, the service's checks and
``ListBackends`` all read this table; adding a backend is one module and one entry here.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any, Protocol

from sonicvision.errors import ConfigError

KINDS = ("detector", "describer", "generator")
MODEL_STACK = ("torch",)  # what every model backend needs before anything else
SOURCE = ""  # in ``paths``: the part of the argument before its first comma


@dataclass(frozen=True)
class Backend:
    """One backend of one stage, as the registry knows it."""

    kind: str
    name: str
    factory: str  # "module:callable"; called with the argument, or with nothing if it takes none
    summary: str
    argument: str = ""  # how the argument reads in help ("DIR[,adapter=CKPT]"); "" takes none
    argument_required: bool = False
    argument_is: str = "an argument"  # for the error when a required argument is missing
    paths: tuple[str, ...] = ()  # SOURCE and/or option names whose values are paths
    hub_source: bool = False  # the source may be a model id in the local Hugging Face cache
    needs: tuple[str, ...] = ()  # modules beyond the embedded install (the ``gpu`` extra)

    @property
    def usage(self) -> str:
        if not self.argument:
            return self.name
        if self.argument_required:
            return f"{self.name}:{self.argument}"
        return f"{self.name}[:{self.argument}]"

    def available(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.needs)

    def build(self, argument: str | None) -> object:
        if not self.argument and argument:
            raise ConfigError(
                f"{self.kind} {self.name!r} takes no argument (got {argument!r})", field=self.kind
            )
        if self.argument_required and not argument:
            raise ConfigError(
                f"the {self.name} {self.kind} needs {self.argument_is}: --{self.kind} {self.usage}",
                field=self.kind,
            )
        module, _, attr = self.factory.partition(":")
        try:
            factory = importlib.import_module(module)
            for part in attr.split("."):
                factory = getattr(factory, part)
        except ImportError as exc:
            if exc.name and exc.name.split(".")[0] in self.needs:
                raise ConfigError(
                    f"the {self.name} {self.kind} needs the model stack ({exc.name} is missing): "
                    "pip install 'sonicvision[gpu]'",
                    field=self.kind,
                ) from exc
            raise
        return factory(argument) if self.argument else factory()


_GPU_VIDEO = ("torch", "torchvision")
_GPU_TEXT = ("torch", "transformers")

BACKENDS: tuple[Backend, ...] = (
    Backend(
        "detector",
        "motion",
        "sonicvision.server.detect.motion:build_motion",
        "embedded: optical flow with camera motion compensated, no weights",
        argument="min_confidence=0.0,small_objects=1",
    ),
    Backend(
        "detector",
        "r2plus1d",
        "sonicvision.server.detect.r2plus1d:build_detector",
        "the paper's R(2+1)D-18 per-frame detector, from a checkpoint of `train detector`",
        argument="CKPT[,threshold=0.5,window=48,overlap=16,device=cuda]",
        argument_required=True,
        argument_is="a checkpoint trained with `sonicvision train detector`",
        paths=(SOURCE,),
        needs=_GPU_VIDEO,
    ),
    Backend(
        "describer",
        "none",
        "sonicvision.server.describe.embedded:EmbeddedDescriber",
        "embedded: SFX markers, clip names that name a sound, else a cue from the motion",
    ),
    Backend(
        "describer",
        "vlm",
        "sonicvision.server.describe.vlm:build_vlm_describer",
        "a vision-language chat model over four frames of each shot (the paper's temporal cues)",
        argument="MODEL[,frame_size=448,max_sounds=4]",
        argument_required=True,
        argument_is="a model (an id in the local Hugging Face cache, or a folder)",
        paths=(SOURCE,),
        hub_source=True,
        needs=_GPU_TEXT,
    ),
    Backend(
        "generator",
        "procedural",
        "sonicvision.server.generate.procedural:ProceduralGenerator",
        "embedded: parametric synthesis families with seeded variation",
    ),
    Backend(
        "generator",
        "library",
        "sonicvision.server.generate.library:LibraryGenerator",
        "your own SFX folder (UCS names, cached index), matched to each event's text",
        argument="DIR",
        argument_required=True,
        argument_is="a folder",
        paths=(SOURCE,),
    ),
    Backend(
        "generator",
        "ldm",
        "sonicvision.server.generate.ldm:LDMGenerator.from_spec",
        "the time-controlled latent diffusion model (Tango / AudioLDM layouts, local weights)",
        argument="DIR[,adapter=CKPT,scheduler=dpm,steps=25,guidance=3,scale=2]",
        argument_required=True,
        argument_is="a model folder",
        paths=(SOURCE, "adapter"),
        needs=("torch", "diffusers", "transformers"),
    ),
)


def of_kind(kind: str) -> list[Backend]:
    return [b for b in BACKENDS if b.kind == kind]


def names(kind: str) -> list[str]:
    return [b.name for b in of_kind(kind)]


def split(spec: str) -> tuple[str, str | None]:
    """``"ldm:/m,steps=4"`` -> ``("ldm", "/m,steps=4")``; the name is case-insensitive."""
    name, _, argument = spec.partition(":")
    return name.strip().lower(), (argument or None)


def find(kind: str, spec: str) -> tuple[Backend, str | None]:
    """The entry a spec names, and its argument; unknown names raise naming the choices."""
    name, argument = split(spec)
    for backend in of_kind(kind):
        if backend.name == name:
            return backend, argument
    raise ConfigError(
        f"unknown {kind} backend {name!r}; available: {', '.join(names(kind))}", field=kind
    )


def argument_paths(backend: Backend, argument: str | None) -> list[tuple[str, str]]:
    """(part, path) for each part of an argument that is a path: the source, ``adapter=`` ..."""
    if not argument:
        return []
    source, _, rest = argument.partition(",")
    found = [(SOURCE, source.strip())] if SOURCE in backend.paths else []
    for item in rest.split(","):
        key, eq, value = item.partition("=")
        if eq and key.strip() in backend.paths:
            found.append((key.strip(), value.strip()))
    return found


def help_text(kind: str) -> str:
    """``motion (embedded: ...) | r2plus1d:CKPT (...)`` for ``--help``."""
    return "; ".join(f"{b.usage}: {b.summary}" for b in of_kind(kind))


def build(kind: str, spec: str) -> object:
    backend, argument = find(kind, spec)
    return backend.build(argument)


class Provider(Protocol):
    """Where a run gets its backends: built fresh (the CLI), or kept warm (the server's cache)."""

    def get(self, kind: str, spec: str) -> Any: ...


class _Fresh:
    def get(self, kind: str, spec: str) -> Any:
        return build(kind, spec)


FRESH: Provider = _Fresh()


def build_detector(spec: str):
    return build("detector", spec)


def build_describer(spec: str):
    return build("describer", spec)


def build_generator(spec: str):
    return build("generator", spec)
