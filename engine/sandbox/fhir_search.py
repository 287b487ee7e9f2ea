"""Searches of the test FHIR platform: the parameters it implements, as a real server reads
them; any other parameter is an error (400), never silently ignored.

* ``identifier=[system|]value``;
* ``identifier:of-type=type-system|type-code|value`` (FHIR R4 token modifier);
* references ``subject``, ``patient``, ``part-of``: ``Type/id``, an absolute URL ending in
  it, or a bare id.

Several parameters, and several occurrences of one, must all match (AND). ``_count`` sets
the page size (default :data:`PAGE`, as HAPI FHIR's 20); a longer result gets a ``next``
link the platform does not serve (clients must ask for a large enough page).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote

from engine.sandbox.fhir_validation import EntryError

Resource = dict[str, Any]
_REFERENCES = {"subject": ("subject",), "patient": ("subject", "patient"), "part-of": ("partOf",)}
SUPPORTED = frozenset({"identifier", "identifier:of-type", "_count", *_REFERENCES})
PAGE = 20


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
    return all(_matches(resource, name, value) for name, value in params if name != "_count")


def page_size(params: list[tuple[str, str]]) -> int:
    """The ``_count`` asked for (400 when it is not a number), else :data:`PAGE`."""
    for name, value in params:
        if name == "_count":
            if not value.isdigit():
                raise EntryError(400, "invalid", "_count must be a number")
            return int(value)
    return PAGE


def searchset(kind: str, query: str, found: list[Resource]) -> Resource:
    """The searchset Bundle of one page of ``found`` (with a ``next`` link when cut)."""
    size = page_size(parse_query(query))
    page = found[:size]
    bundle: Resource = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in page],
    }
    if len(found) > size:
        bundle["link"] = [{"relation": "next", "url": f"{kind}?{query}&_offset={size}"}]
    return bundle


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


__all__ = ["PAGE", "SUPPORTED", "matches", "page_size", "parse_query", "searchset"]
