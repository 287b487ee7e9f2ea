"""FHIR validation of map outputs with the ``fhir.resources`` R4B models.

The output (a resource, usually a transaction Bundle whose entries are validated as their
own resource types) must have a ``resourceType`` known to R4B. What this catches: unknown
elements, wrong types and formats (dates, ids, decimals), missing required elements, two
values of one choice element. What it does not: value-set bindings and profile rules (FR
Core slices, invariants) -- the maps' golden tests and code tables cover those.

Costs (see ``bench/mapping.py``): the models are imported on first use (~0.2 s); a Bundle
of three resources takes about a millisecond, several times the mapping itself.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from engine.mapping.errors import InvalidOutput

_MAX_REPORTED = 10


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def fhir_problems(output: Any) -> list[str]:
    """``element: reason`` for each problem FHIR R4B validation finds (no values quoted)."""
    from fhir.resources.R4B import get_fhir_model_class

    if not isinstance(output, dict) or not isinstance(output.get("resourceType"), str):
        return ["(root): the output is not a FHIR resource (no resourceType)"]
    try:
        model = get_fhir_model_class(output["resourceType"])
    except (KeyError, ValueError):
        return [f"resourceType: {output['resourceType']!r} is not an R4B resource type"]
    try:
        model.model_validate(output)
    except ValidationError as exc:
        return [f"{_where(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
    except (ValueError, TypeError) as exc:
        return [f"(root): {type(exc).__name__}"]
    return []


def validate_fhir(output: Any, map_name: str) -> None:
    """Raise :class:`InvalidOutput` when the output is not valid FHIR R4B."""
    problems = fhir_problems(output)
    if problems:
        shown = "; ".join(problems[:_MAX_REPORTED])
        more = (
            f" (and {len(problems) - _MAX_REPORTED} more)" if len(problems) > _MAX_REPORTED else ""
        )
        message = f"map {map_name!r}: the output is not valid FHIR R4B: {shown}{more}"
        raise InvalidOutput(message, tuple(problems))


__all__ = ["fhir_problems", "validate_fhir"]
