"""Searches of the test FHIR platform: the parameters it implements, as a real server reads
them; any other parameter is an error (400), never silently ignored.

* ``identifier=[system|]value``;
* ``identifier:of-type=type-system|type-code|value`` (FHIR R4 token modifier);
* references ``subject``, ``patient``, ``part-of``: ``Type/id``, an absolute URL ending in
  it, or a bare id.

Several parameters, and several occurrences of one, must all match (AND).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote

from engine.sandbox.fhir_validation import EntryError

Resource = dict[str, Any]
_REFERENCES = {"subject": ("subject",), "patient": ("subject", "patient"), "part-of": ("partOf",)}
SUPPORTED = frozenset({"identifier", "identifier:of-type", *_REFERENCES})


def parse_query(query: str) -> list[tuple[str, str]]:
    """The (parameter, decoded value) pairs of a search query.

    Raises:
        EntryError: (400) no parameter, or one the platform does not implement.
    """
    params = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - SUPPORTED)
    if unknown or not params:
        raise EntryError(400, "not-supported", f"unsupported search parameters {unknown}")
    return [(name, unquote(value)) for name, values in params.items() for value in values]


def matches(resource: Resource, params: list[tuple[str, str]]) -> bool:
    """True when the resource satisfies every parameter."""
    return all(_matches(resource, name, value) for name, value in params)


def _matches(res: Resource, name: str, wanted: str) -> bool:
    if name == "identifier:of-type":  # [type system]|[type code]|[value]
        type_system, type_code, value = [*wanted.split("|", 2), "", ""][:3]
        return any(
            i.get("value") == value
            and any(
                c.get("system") == type_system and c.get("code") == type_code
                for c in (i.get("type") or {}).get("coding") or []
            )
            for i in res.get("identifier") or []
        )
    if name == "identifier":
        system, _, value = wanted.rpartition("|") if "|" in wanted else (None, "", wanted)
        return any(
            i.get("value") == value and system in (None, i.get("system", ""))
            for i in res.get("identifier") or []
        )
    target = "/".join(wanted.rstrip("/").split("/")[-2:])
    for element in _REFERENCES[name]:
        ref = str((res.get(element) or {}).get("reference", ""))
        if ref and ("/".join(ref.split("/")[-2:]) == target or ref.endswith(f"/{wanted}")):
            return True
    return False


__all__ = ["SUPPORTED", "matches", "parse_query"]
