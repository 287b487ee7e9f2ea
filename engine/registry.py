"""Registry of source and destination types, each declared by name with a config model.

A channel module registers itself at import time::

    @source("mllp", config=MllpSourceConfig)
    class MllpSource(Source[MllpSourceConfig]): ...

``channels/__init__.py`` imports every channel module, so importing ``channels`` fills
the registry. There is no central if/elif on type names anywhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from engine.components import ComponentConfig, Destination, Source

Kind = Literal["source", "destination"]
_NAME = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")


@dataclass(frozen=True, slots=True)
class ComponentType:
    kind: Kind
    name: str
    config_model: type[ComponentConfig]
    factory: type[Any]
    summary: str


_registry: dict[tuple[Kind, str], ComponentType] = {}

S = TypeVar("S", bound=type[Source[Any]])
D = TypeVar("D", bound=type[Destination[Any]])


def _register(kind: Kind, name: str, config: type[ComponentConfig], cls: type[Any]) -> None:
    if not _NAME.match(name):
        raise ValueError(f"component name {name!r} must match {_NAME.pattern}")
    key = (kind, name)
    existing = _registry.get(key)
    if existing is not None and existing.factory is not cls:
        raise ValueError(f"{kind} type {name!r} is already registered by {existing.factory!r}")
    summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    _registry[key] = ComponentType(kind, name, config, cls, summary)


def source(name: str, *, config: type[ComponentConfig]) -> Callable[[S], S]:
    """Class decorator: register a :class:`Source` type under ``name``."""

    def decorate(cls: S) -> S:
        _register("source", name, config, cls)
        return cls

    return decorate


def destination(name: str, *, config: type[ComponentConfig]) -> Callable[[D], D]:
    """Class decorator: register a :class:`Destination` type under ``name``."""

    def decorate(cls: D) -> D:
        _register("destination", name, config, cls)
        return cls

    return decorate


def lookup(kind: Kind, name: str) -> ComponentType | None:
    """Return the registered type, or None. Imports ``channels`` on first use."""
    _load_builtin()
    return _registry.get((kind, name))


def types_of(kind: Kind) -> list[ComponentType]:
    """Every registered type of a kind, sorted by name."""
    _load_builtin()
    return sorted((t for (k, _), t in _registry.items() if k == kind), key=lambda t: t.name)


def _load_builtin() -> None:
    import channels  # noqa: F401  - registers every built-in channel


__all__ = ["ComponentType", "Kind", "destination", "lookup", "source", "types_of"]
