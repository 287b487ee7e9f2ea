"""Merging what one message says into what the platform holds (pure functions).

Rules (docs/fhir.md, "Updates"):

* **An absent value never erases.** Only the elements the incoming resource carries are
  written; the others keep their stored value.
* **Newer wins, older fills.** When the incoming event is at least as recent as the latest
  event applied (:attr:`Stamp.key`), its elements replace the stored ones; when it is
  older, it only fills elements the resource does not have yet (a late A01 never reopens a
  finished stay, yet brings a start the stay lacked).
* **Lists merge by key**: identifiers by system and type (an A47 renumbering replaces the
  IPP of the same system), names and addresses by ``use``, telecoms by system and use,
  extensions by URL, links by target. Items with a new key are added.
* **Explicit deletes** (an HL7 ``""``, marked ``delete`` on the entry) remove an element or
  one keyed item, when the event is not older; the event record keeps them (``deleted``)
  so an older event does not bring them back, until a newer one carries them again.
* **Defaults** (marked ``default``) are written only where nothing is stored.
* **A cancelled movement stays cancelled**: ``entered-in-error`` is never overwritten, and
  always applied, whatever the order of arrival.
* **Choice elements** (``deceased[x]``): writing one type replaces the other.
* **Idempotent**: merging the same resource twice gives the same result.

The event record of the result is the most recent of the two (:mod:`.events`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from engine.formats.fhir.events import LAST_EVENT, Resource, Stamp, read_stamp, with_stamp

Key = Callable[[Any], Any]
CANCELLED = "entered-in-error"


def _coding_code(concept: Any) -> str:
    codings = (concept or {}).get("coding") or [] if isinstance(concept, dict) else []
    return str(codings[0].get("code", "")) if codings else ""


KEYS: dict[str, Key] = {
    "identifier": lambda i: (i.get("system"), _coding_code(i.get("type"))),
    "name": lambda n: n.get("use", ""),
    "address": lambda a: a.get("use", ""),
    "telecom": lambda t: (t.get("system", ""), t.get("use", "")),
    "extension": lambda e: e.get("url"),
    "link": lambda link: (link.get("other") or {}).get("reference"),
}
#: How an explicit delete ``element:key`` names one item of a keyed list.
DELETE_KEYS: dict[str, Key] = {
    "identifier": lambda i: i.get("system"),
    "name": lambda n: n.get("use", ""),
    "address": lambda a: a.get("use", ""),
    "telecom": lambda t: t.get("system", ""),
    "extension": lambda e: e.get("url"),
}
_KEEP = ("resourceType", "id")
#: Choice elements (``deceased[x]``...): writing one type removes the others.
CHOICES = ("deceased", "multipleBirth", "value", "effective", "onset", "abatement")


def is_newer(incoming: Stamp | None, stored: Stamp | None) -> bool:
    """True when an event stamped ``incoming`` may overwrite what ``stored`` wrote."""
    return stored is None or incoming is None or incoming.key >= stored.key


def latest(*stamps: Stamp | None) -> Stamp | None:
    known = [s for s in stamps if s is not None]
    return max(known, key=lambda s: s.key) if known else None


def merge(
    current: Resource | None,
    incoming: Resource,
    *,
    deletes: Iterable[str] = (),
    defaults: Iterable[str] = (),
) -> Resource:
    """``current`` (None: the platform has none) updated with ``incoming`` (see module doc).

    ``id`` and ``meta`` (version) stay the stored ones; neither input is modified.
    """
    stored_stamp, stamp = read_stamp(current), read_stamp(incoming)
    newer = is_newer(stamp, stored_stamp)
    result: Resource = copy.deepcopy(current) if current else {}
    result.setdefault("resourceType", incoming["resourceType"])
    fill_only = set(defaults)
    tombs = set(stored_stamp.deleted) if stored_stamp else set()
    if newer:  # what this event carries is no longer deleted
        tombs -= {spec for name, value in incoming.items() for spec in _specs(name, value)}
    for name, value in incoming.items():
        if name in _KEEP:
            continue
        if name == "meta":
            result["meta"] = _merge_meta(result.get("meta"), value, newer)
        elif name == "status":
            if value == CANCELLED or (newer and result.get("status") != CANCELLED):
                result["status"] = value
            else:
                result.setdefault("status", value)
        elif name in KEYS:
            items = value if name != "extension" else [e for e in value if e["url"] != LAST_EVENT]
            if not newer:  # an older event does not bring back what a newer one deleted
                items = [i for i in items if not tombs & set(_specs(name, [i]))]
            merged = _merge_list(result.get(name) or [], items, KEYS[name], newer, name, fill_only)
            if merged:
                result[name] = merged
        elif newer and name not in fill_only:
            _drop_choice(result, name)
            result[name] = copy.deepcopy(value)
        elif not _has_choice(result, name) and name not in tombs:
            result[name] = copy.deepcopy(value)
    if newer:
        for spec in deletes:
            _delete(result, spec)
            tombs.add(spec)
    record = latest(stored_stamp, stamp)
    if record is not None:
        record = replace(record, deleted=tuple(sorted(tombs)))
    return with_stamp(result, record)


def _specs(name: str, value: Any) -> list[str]:
    """The delete specs an element carries: ``name`` and, for a keyed list, ``name:key``."""
    specs = [name]
    if name in DELETE_KEYS and isinstance(value, list):
        specs += [f"{name}:{DELETE_KEYS[name](item)}" for item in value if isinstance(item, dict)]
    return specs


def _choice(name: str) -> str | None:
    return next(
        (c for c in CHOICES if name.startswith(c) and name[len(c) : len(c) + 1].isupper()), None
    )


def _has_choice(resource: Resource, name: str) -> bool:
    """True when the element, or another type of the same choice element, is there."""
    prefix = _choice(name)
    if prefix is None:
        return name in resource
    return any(_choice(k) == prefix for k in resource)


def _drop_choice(resource: Resource, name: str) -> None:
    prefix = _choice(name)
    if prefix is not None:
        for other in [k for k in resource if k != name and _choice(k) == prefix]:
            del resource[other]


def _merge_meta(stored: Any, incoming: Any, newer: bool) -> Resource:
    meta: Resource = dict(stored or {})
    for key, value in (incoming or {}).items():
        if key in ("versionId", "lastUpdated"):
            continue
        if newer or key not in meta:
            meta[key] = copy.deepcopy(value)
    return meta


def _merge_list(
    stored: list[Any],
    incoming: list[Any],
    key: Key,
    newer: bool,
    name: str,
    fill_only: set[str],
) -> list[Any]:
    out = [copy.deepcopy(item) for item in stored]
    index = {key(item): i for i, item in enumerate(out)}
    for item in incoming:
        k = key(item)
        default = name in fill_only or f"{name}:{k if isinstance(k, str) else k[0]}" in fill_only
        if k not in index:
            index[k] = len(out)
            out.append(copy.deepcopy(item))
        elif newer and not default:
            out[index[k]] = copy.deepcopy(item)
    return out


def _delete(resource: Resource, spec: str) -> None:
    """Remove ``element`` or, for ``element:key``, the items of that list with that key."""
    name, _, key = spec.partition(":")
    if not key or name not in DELETE_KEYS:
        resource.pop(name, None)
        return
    kept = [i for i in resource.get(name) or [] if DELETE_KEYS[name](i) != key]
    if kept:
        resource[name] = kept
    else:
        resource.pop(name, None)


def content(resource: Resource | None) -> Resource:
    """What a write would change: the resource without ``meta.versionId``/``lastUpdated``."""
    if resource is None:
        return {}
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in _SERVER_META}
    out = {k: v for k, v in resource.items() if k != "meta"}
    return {**out, "meta": meta} if meta else out


_SERVER_META = ("versionId", "lastUpdated", "source")

__all__ = ["KEYS", "content", "is_newer", "latest", "merge"]
