"""Invariants (``constraint[].expression``) evaluated with FHIRPath (``fhirpathpy``, R4 model).

Each expression is parsed once per process. ``ele-1`` (every element has a value or
children) is checked natively by the checker: fhirpathpy does not implement ``hasValue()``.
An expression the library cannot evaluate is recorded as unsupported (it is neither a pass
nor a failure); the tests pin which invariants of the emitted profiles that concerns.
"""

from __future__ import annotations

from functools import cache
from typing import Any

_OPTIONS = {"traceFn": lambda *_: None}  # trace() must not print

#: Checked by the checker itself, not by FHIRPath.
NATIVE = frozenset({"ele-1"})


@cache
def _model() -> Any:
    from fhirpathpy.models import models

    return models["r4"]


@cache
def _parsed(expression: str) -> Any:
    from fhirpathpy.parser import parse

    return parse(expression)  # type: ignore[no-untyped-call]


def evaluate(expression: str, node: Any, base: str, resource: Any) -> bool:
    """Whether the invariant holds on ``node`` (of FHIR element path ``base``).

    Raises ``UnsupportedInvariant`` when the expression cannot be evaluated."""
    from fhirpathpy import apply_parsed_path
    from fhirpathpy.engine.nodes import ResourceNode

    try:
        root = ResourceNode.create_node(node, base)  # type: ignore[no-untyped-call]
        result = apply_parsed_path(  # type: ignore[no-untyped-call]
            root, _parsed(expression), {"resource": resource}, _model(), _OPTIONS
        )
    except Exception as exc:  # fhirpathpy raises bare Exceptions for unknown functions
        raise UnsupportedInvariant(f"{type(exc).__name__}: {exc}") from exc
    if result == [] or result == [True]:
        return True  # an empty result is not a failure (FHIR invariant semantics)
    if result == [False]:
        return False
    raise UnsupportedInvariant("the expression does not give a boolean")


class UnsupportedInvariant(ValueError):
    """The FHIRPath expression could not be evaluated here."""


__all__ = ["NATIVE", "UnsupportedInvariant", "evaluate"]
