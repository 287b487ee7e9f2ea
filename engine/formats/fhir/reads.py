"""The read side of the update mechanism (pure): which Bundle entries are merged, how the
platform's current resources are found for them, and what else must be read.

A marked entry (see :mod:`.events`) is looked up by its first business identifier
(``Type?identifier=system|value``) and matched on system, value and FR Core identifier type
(a stay and a movement may share a number and a system). The related reads are the
movements of a known stay (``Encounter?part-of=``) and the Encounters of a merged patient
(``Encounter?subject=``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from engine.formats.fhir.events import DEFAULT, DELETE, ROLE, Resource, marker

#: The page size asked for the related searches: a stay's movements and a patient's
#: Encounters fit in one page (Medplum's and HAPI FHIR's default maximum is 1000).
PAGE = 1000
ROLES = ("patient", "merged-patient", "venue", "movement")


@dataclass
class Marked:
    """One entry of the map's Bundle that goes through the merge."""

    index: int
    role: str
    full_url: str
    resource: Resource
    search: str  # Type?identifier=system|value: its first identifier
    deletes: list[str] = field(default_factory=list)
    defaults: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return str(self.resource["resourceType"])


@dataclass
class State:
    """What the platform holds: per marked entry index its resource (or None), and the
    related resources by query (``part-of:Encounter/7``, ``subject:Patient/3``)."""

    found: dict[int, Resource | None] = field(default_factory=dict)
    related: dict[str, list[Resource]] = field(default_factory=dict)
    ambiguous: set[int] = field(default_factory=set)  # an other-typed resource shares the id


def marked_entries(bundle: Resource) -> list[Marked]:
    """The entries carrying an ``update-role`` marker, in Bundle order."""
    out: list[Marked] = []
    for i, entry in enumerate(bundle.get("entry") or []):
        request = entry.get("request") or {}
        roles = marker(request, ROLE)
        if not roles or entry.get("resource") is None:
            continue
        out.append(
            Marked(
                i,
                roles[0],
                str(entry.get("fullUrl", "")),
                entry["resource"],
                _search(entry["resource"]),
                marker(request, DELETE),
                marker(request, DEFAULT),
            )
        )
    return out


def _search(resource: Resource) -> str:
    """``Type?identifier=system|value`` of the resource's first identifier with a value."""
    for ident in resource.get("identifier") or []:
        if ident.get("value"):
            token = quote(f"{ident.get('system', '')}|{ident['value']}", safe=":/|")
            return f"{resource['resourceType']}?identifier={token}"
    raise ValueError(f"a marked {resource['resourceType']} has no identifier")


def ref(resource: Resource) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def _type(identifier: Resource) -> str:
    codings = (identifier.get("type") or {}).get("coding") or [{}]
    return str(codings[0].get("code", ""))


def _same(identifier: Resource, other: Resource, typed: bool) -> bool:
    if (identifier.get("system"), identifier.get("value")) != (
        other.get("system"),
        other.get("value"),
    ):
        return False
    return not typed or _type(identifier) == _type(other)


class Ambiguous(ValueError):
    """An identifier matches several resources on the platform."""


def resolve(marked: list[Marked], results: list[list[Resource]]) -> State:
    """The State from the search results of each marked entry (same order): the resource
    carrying the entry's first identifier (same system, value and FR Core type).

    Raises:
        Ambiguous: several resources carry it.
    """
    state = State()
    for m, candidates in zip(marked, results, strict=True):
        idents = m.resource.get("identifier") or []
        key: Resource = next((i for i in idents if i.get("value")), {})
        typed = bool(_type(key))
        matches = [
            r for r in candidates if any(_same(key, i, typed) for i in r.get("identifier") or [])
        ]
        if len(matches) > 1:
            raise Ambiguous(
                f"{m.kind} of entry {m.index + 1}: {len(matches)} resources on the platform "
                "carry its identifier"
            )
        state.found[m.index] = matches[0] if matches else None
        if len(candidates) > len(matches):
            state.ambiguous.add(m.index)
    return state


def add_related(state: State, queries: list[str], results: list[list[Resource]]) -> None:
    """Record what each related query (:func:`related_queries`) found."""
    for query, resources in zip(queries, results, strict=True):
        rest = query.partition("?")[2].partition("&")[0]
        state.related[rest.replace("=", ":", 1)] = resources


def related_queries(marked: list[Marked], state: State) -> list[str]:
    """The searches that bring the related resources of the found ones."""
    queries: list[str] = []
    for m in marked:
        current = state.found.get(m.index)
        if current is None:
            continue
        if m.role == "venue":
            queries.append(f"Encounter?part-of={ref(current)}&_count={PAGE}")
        elif m.role == "merged-patient":
            queries.append(f"Encounter?subject={ref(current)}&_count={PAGE}")
    return queries


__all__ = [
    "ROLES",
    "Ambiguous",
    "Marked",
    "State",
    "add_related",
    "marked_entries",
    "ref",
    "related_queries",
    "resolve",
]
