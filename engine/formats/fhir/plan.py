"""The transaction that applies a map's Bundle to what the platform holds (pure).

Input: the map's Bundle (entries marked with an ``update-role``, see :mod:`.events`), the
current resource of each marked entry (found by its business identifier, None when new),
and the related resources read for it (the movements of a stay, the Encounters of a
merged patient). Output: a transaction Bundle whose entries are

* ``PUT Type/id`` with ``ifMatch: W/"<version read>"`` for each existing resource the merge
  changes (unchanged ones are not sent), so that a concurrent change makes the whole
  transaction fail with 412 and the destination reads again;
* ``POST Type`` with ``ifNoneExist: identifier=system|value`` for each new resource;
* the unmarked entries as the map wrote them.

References to the ``urn:uuid:`` of an existing resource become ``Type/id``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from engine.formats.fhir.events import MARKERS, Resource
from engine.formats.fhir.merge import content, merge
from engine.formats.fhir.patient import claim_profile, missing_ins_traits
from engine.formats.fhir.reads import Marked, State, ref
from engine.formats.fhir.stay import settle


def plan(
    bundle: Resource, marked: list[Marked], state: State, notes: list[str] | None = None
) -> Resource:
    """The transaction to send (see module doc); empty ``entry`` when nothing changes.

    ``notes`` receives findings worth recording with the delivery (element names only):
    a Patient with an INS that claims ``fr-core-patient`` because INS traits are missing.
    """
    names = {
        m.full_url: ref(current)
        for m in marked
        if m.full_url and (current := state.found.get(m.index)) is not None
    }
    merged: dict[int, Resource] = {}
    for m in marked:
        incoming = _rewrite(m.resource, names)
        result = merge(state.found.get(m.index), incoming, deletes=m.deletes, defaults=m.defaults)
        if m.kind == "Patient":
            result = claim_profile(result)
            missing = missing_ins_traits(result)
            if notes is not None and missing and "identifier:INS" not in missing:
                notes.append(
                    f"{m.role} claims fr-core-patient, INS traits missing: {', '.join(missing)}"
                )
        merged[m.index] = result
    extra: dict[str, Resource] = {}  # Type/id -> new content of a related resource
    stored: dict[str, Resource] = {}
    for related in state.related.values():
        for res in related:
            stored[ref(res)] = res
    _follow_replacements(marked, names, merged)
    _settle_stays(marked, state, names, merged, extra)
    _move_encounters(marked, state, names, extra)
    entries: list[Resource] = []
    by_index = {m.index: m for m in marked}
    for i, entry in enumerate(bundle.get("entry") or []):
        mark = by_index.get(i)
        if mark is None:
            entries.append(_rewrite(_unmarked(entry), names))
            continue
        current = state.found.get(i)
        if current is None:
            entries.append(_create(mark, merged[i], ambiguous=i in state.ambiguous))
        else:
            extra.pop(ref(current), None)
            if content(merged[i]) != content(current):
                entries.append(_update(current, merged[i]))
    for key, res in extra.items():
        if content(res) != content(stored.get(key)):
            entries.append(_update(stored[key], res))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _settle_stays(
    marked: list[Marked],
    state: State,
    names: dict[str, str],
    merged: dict[int, Resource],
    extra: dict[str, Resource],
) -> None:
    for venue in (m for m in marked if m.role == "venue"):
        venue_ref = names.get(venue.full_url, venue.full_url)
        current = state.found.get(venue.index)
        mine = {
            m.index: merged[m.index]
            for m in marked
            if m.role == "movement"
            and (merged[m.index].get("partOf") or {}).get("reference") == venue_ref
        }
        known_ids = {ref(found) for i in mine if (found := state.found.get(i)) is not None}
        others = []
        if current is not None:
            others = [
                r
                for r in state.related.get(f"part-of:{ref(current)}", [])
                if ref(r) not in known_ids
            ]
        settled_venue, settled = settle(merged[venue.index], [*mine.values(), *others])
        merged[venue.index] = settled_venue
        for i, res in zip(mine, settled[: len(mine)], strict=True):
            merged[i] = res
        for res in settled[len(mine) :]:
            extra[ref(res)] = res


def _follow_replacements(
    marked: list[Marked], names: dict[str, str], merged: dict[int, Resource]
) -> None:
    """The Encounters of a message about a patient already merged into another (an A40
    delivered before this patient's own messages) go to the surviving patient."""
    survivor: dict[str, str] = {}
    for m in marked:
        if m.role != "patient":
            continue
        links = merged[m.index].get("link") or []
        target = next(
            (link["other"]["reference"] for link in links if link.get("type") == "replaced-by"),
            None,
        )
        if target:
            survivor[names.get(m.full_url, m.full_url)] = target
    if not survivor:
        return
    for m in marked:
        subject = merged[m.index].get("subject") or {}
        if m.kind == "Encounter" and subject.get("reference") in survivor:
            merged[m.index]["subject"] = {**subject, "reference": survivor[subject["reference"]]}


def _move_encounters(
    marked: list[Marked], state: State, names: dict[str, str], extra: dict[str, Resource]
) -> None:
    """A40: the merged patient's Encounters now belong to the surviving patient."""
    survivors = [m for m in marked if m.role == "patient"]
    if not survivors:
        return
    survivor = names.get(survivors[0].full_url, survivors[0].full_url)
    for m in marked:
        current = state.found.get(m.index)
        if m.role != "merged-patient" or current is None:
            continue
        for encounter in state.related.get(f"subject:{ref(current)}", []):
            moved = copy.deepcopy(extra.get(ref(encounter), encounter))
            moved["subject"] = {**(moved.get("subject") or {}), "reference": survivor}
            extra[ref(encounter)] = moved


def _unmarked(entry: Resource) -> Resource:
    request = entry.get("request") or {}
    others = [e for e in request.get("extension") or [] if e.get("url") not in MARKERS]
    clean = {k: v for k, v in request.items() if k != "extension"}
    if others:
        clean["extension"] = others
    return {**entry, "request": clean}


def _create(m: Marked, resource: Resource, *, ambiguous: bool) -> Resource:
    request: Resource = {"method": "POST", "url": m.kind}
    query = m.search.partition("?")[2]
    if query and not ambiguous:
        request["ifNoneExist"] = query
    body = {k: v for k, v in resource.items() if k != "id"}
    entry: Resource = {"resource": body, "request": request}
    if m.full_url:
        entry["fullUrl"] = m.full_url
    return entry


def _update(current: Resource, resource: Resource) -> Resource:
    body = {**resource, "id": current["id"]}
    version = (current.get("meta") or {}).get("versionId")
    request: Resource = {"method": "PUT", "url": ref(current)}
    if version:
        request["ifMatch"] = f'W/"{version}"'
    return {"resource": body, "request": request}


def _rewrite(node: Any, names: dict[str, str]) -> Any:
    if not names:
        return copy.deepcopy(node)
    text = json.dumps(node)
    for urn, target in names.items():
        text = text.replace(json.dumps(urn), json.dumps(target))
    return json.loads(text)


__all__ = ["plan"]
