"""Registry of built-in Python transforms, named by routes with ``transform: NAME``.

A transform factory registers itself at import time, like channel types do::

    @transform("dmp_from_hl7")
    def dmp_submission_from_hl7(*, default_codec: str = "utf-8") -> Transform: ...

or, for a factory defined elsewhere, ``register_transform(name, factory, summary)``. The
built-in ones are registered when ``channels`` and ``engine.formats.xds`` are imported;
:func:`lookup_transform` and :func:`transform_names` import them first, so a lookup never
misses a built-in. The engine calls :meth:`TransformType.create` once per route and applies
the result at delivery time (see :mod:`engine.pipeline`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from engine.components import ComponentConfig, Payload
    from engine.message import Envelope

Transform = Callable[["Envelope"], "Payload"]
"""Same shape as ``engine.pipeline.Transform`` (not imported: this module stays light)."""
TransformFactory = Callable[..., Transform]
F = TypeVar("F", bound=TransformFactory)

_NAME = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")


@dataclass(frozen=True, slots=True)
class TransformType:
    """A registered transform: its name, factory, optional config model and one-line summary.

    ``factory`` is called with no argument, or with an instance of ``config_model`` (built
    from its defaults) when the transform declares one.
    """

    name: str
    factory: TransformFactory
    config_model: type[ComponentConfig] | None
    summary: str

    def create(self) -> Transform:
        """A new transform from the factory (raises what the factory raises)."""
        if self.config_model is None:
            return self.factory()
        return self.factory(self.config_model())


_registry: dict[str, TransformType] = {}


def register_transform(
    name: str,
    factory: TransformFactory,
    summary: str = "",
    *,
    config: type[ComponentConfig] | None = None,
) -> None:
    """Register ``factory`` under ``name``; ``summary`` defaults to its docstring's first line.

    Raises:
        ValueError: ``name`` does not match ``^[a-z0-9]+(_[a-z0-9]+)*$``, or is already
            registered by another factory (registering the same one again is a no-op).
    """
    if not _NAME.match(name):
        raise ValueError(f"transform name {name!r} must match {_NAME.pattern}")
    existing = _registry.get(name)
    if existing is not None and existing.factory is not factory:
        raise ValueError(f"transform {name!r} is already registered by {existing.factory!r}")
    if not summary and factory.__doc__:
        summary = factory.__doc__.strip().splitlines()[0]
    _registry[name] = TransformType(name, factory, config, summary)


def transform(
    name: str, *, config: type[ComponentConfig] | None = None, summary: str = ""
) -> Callable[[F], F]:
    """Decorator: register a transform factory under ``name`` (see :func:`register_transform`)."""

    def decorate(factory: F) -> F:
        register_transform(name, factory, summary, config=config)
        return factory

    return decorate


def lookup_transform(name: str) -> TransformType | None:
    """The registered transform ``name``, or None. Loads the built-ins on first use."""
    _load_builtin()
    return _registry.get(name)


def transform_names() -> list[str]:
    """The names of every registered transform, sorted."""
    _load_builtin()
    return sorted(_registry)


def transform_types() -> list[TransformType]:
    """Every registered transform, sorted by name (for docs and ``passerelle`` listings)."""
    _load_builtin()
    return [_registry[name] for name in sorted(_registry)]


def _load_builtin() -> None:
    import channels  # noqa: F401  - channel packages may register transforms
    import engine.formats.xds  # noqa: F401  - registers dmp_from_hl7 and dmp_from_cda


__all__ = [
    "Transform",
    "TransformFactory",
    "TransformType",
    "lookup_transform",
    "register_transform",
    "transform",
    "transform_names",
    "transform_types",
]
