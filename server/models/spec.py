"""Options after a backend's argument: ``--detector r2plus1d:CKPT,threshold=0.4,window=64``.

The same ``SOURCE[,key=value...]`` form as ``--generator ldm:DIR,adapter=DIR``. Values are
converted to the type of the dataclass field they set; an unknown key names the choices.
No torch here: the CLI parses specs before any model is loaded.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from sonicvision.errors import ConfigError

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def split_spec(arg: str, field: str) -> tuple[str, dict[str, str]]:
    """``"SOURCE,k=v,k2=v2"`` -> ``("SOURCE", {"k": "v", "k2": "v2"})``."""
    target, *pairs = arg.split(",")
    options: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in pairs)):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"option {item!r} is not KEY=VALUE", field=field)
        options[key.strip().replace("-", "_")] = value.strip()
    return target.strip(), options


def apply_options(base: T, options: dict[str, str], field: str) -> T:
    """A copy of the dataclass ``base`` with ``options`` set, each converted to its field type."""
    hints = typing.get_type_hints(type(base))
    names = [f.name for f in dataclasses.fields(base)]  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for key, text in options.items():
        if key not in names:
            raise ConfigError(
                f"unknown option {key!r}; choices: {', '.join(names)}", field=f"{field}.{key}"
            )
        changes[key] = _convert(text, hints[key], f"{field}.{key}")
    return dataclasses.replace(base, **changes)  # type: ignore[type-var]


def _convert(text: str, kind: Any, field: str) -> Any:
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    optional = typing.get_origin(kind) in (typing.Union, types.UnionType) and len(args) == 1
    if optional:
        if text.lower() in ("", "none"):
            return None
        kind = args[0]
    try:
        if kind is bool:
            if text.lower() in _TRUE | _FALSE:
                return text.lower() in _TRUE
            raise ValueError(text)
        if kind in (int, float, str):
            return kind(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not a valid {kind.__name__}", field=field) from None
    raise ConfigError(f"option cannot be set from a spec ({kind})", field=field)
