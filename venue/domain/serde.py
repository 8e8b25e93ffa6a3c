"""Commands and events to plain data and back, for the journal and for snapshots.

`to_plain` gives [type_name, {field: value}] with enums as their values; `from_plain`
reverses it exactly. The type names are part of the journal format: do not rename a
command or event class without a journal migration.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from enum import Enum
from typing import Any

from venue.domain import commands, events

CLASSES: dict[str, type] = {
    cls.__name__: cls
    for module in (commands, events)
    for cls in vars(module).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
}


def to_plain(obj: Any) -> list[Any]:
    return [type(obj).__name__, _fields_to_plain(obj)]


def _fields_to_plain(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, Enum):
            value = value.value
        elif dataclasses.is_dataclass(value):
            value = _fields_to_plain(value)
        out[f.name] = value
    return out


def from_plain(plain: list[Any]) -> Any:
    name, data = plain
    return _decoder(CLASSES[name])(data)


def _converter(hint: Any) -> Callable[[Any], Any] | None:
    """How to rebuild a value of this annotated type from plain data (None: as is)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        conv = _converter(inner[0]) if len(inner) == 1 else None
        if conv is None:
            return None
        return lambda v: None if v is None else conv(v)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decoder(hint)
    return None


_DECODERS: dict[type, Callable[[dict[str, Any]], Any]] = {}


def _decoder(cls: type) -> Callable[[dict[str, Any]], Any]:
    decoder = _DECODERS.get(cls)
    if decoder is None:
        hints = typing.get_type_hints(cls)
        convs = {f.name: _converter(hints[f.name]) for f in dataclasses.fields(cls)}

        def decoder(data: dict[str, Any], cls: type = cls, convs: dict = convs) -> Any:
            return cls(**{k: (c(data[k]) if c else data[k]) for k, c in convs.items() if k in data})

        _DECODERS[cls] = decoder
    return decoder
