"""The event record a resource carries, and the markers a map puts on Bundle entries.

Every resource written through the update mechanism (docs/fhir.md, "Updates") records the
latest event applied to it in a resource extension::

    {"url": "https://passerelle.invalid/fhir/StructureDefinition/last-event",
     "extension": [{"url": "event", "valueCode": "A02"},          # trigger (ZBE-6 for Z99)
                   {"url": "time", "valueDateTime": "2026-11-21T10:00:00+01:00"},
                   {"url": "action", "valueCode": "INSERT"},      # ZBE-4: INSERT/UPDATE/CANCEL
                   {"url": "movement", "valueCode": "A02"},       # movements: the event that
                                                                  # created the movement
                   {"url": "deleted", "valueString": "birthDate"}]}  # deleted by an HL7 "":
                                                                  # an older event may not refill
The time is the movement's ZBE-2 when there is one (PAM-FR: "the effective date time of the
event that used action INSERT with this Movement", unchanged by its UPDATE and CANCEL), else
EVN-6, else EVN-2, else MSH-7. Events are ordered by (time, action, event): on the same
time an UPDATE comes after the INSERT it corrects and a CANCEL after both.

A map marks the entries the destination must merge (instead of sending them as they are)
with extensions on ``entry.request``: ``update-role`` (``patient``, ``merged-patient``,
``venue``, ``movement``), ``delete`` (an element the message explicitly deletes, HL7
``""``: ``birthDate``, ``identifier:<system>``, ``name:<use>``, ``extension:<url>``) and
``default`` (an element written only when the platform has none, e.g. the identity status
of a message without PID-32). The destination removes the markers before sending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Resource = dict[str, Any]

BASE = "https://passerelle.invalid/fhir/StructureDefinition"
LAST_EVENT = f"{BASE}/last-event"
ROLE = f"{BASE}/update-role"
DELETE = f"{BASE}/delete"
DEFAULT = f"{BASE}/default"
MARKERS = (ROLE, DELETE, DEFAULT)
_ACTIONS = {"INSERT": 0, "UPDATE": 1, "CANCEL": 2}
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Stamp:
    """The latest event applied to a resource."""

    event: str
    time: str
    action: str = "INSERT"
    movement: str = ""
    deleted: tuple[str, ...] = ()  # elements deleted (HL7 ""), not to be refilled by older

    @property
    def key(self) -> tuple[datetime, int, str]:
        """The order of events: time, then INSERT < UPDATE < CANCEL, then the code."""
        return instant(self.time), _ACTIONS.get(self.action, 0), self.event

    def extension(self) -> Resource:
        parts = [
            {"url": "event", "valueCode": self.event},
            {"url": "time", "valueDateTime": self.time},
            {"url": "action", "valueCode": self.action},
        ]
        if self.movement:
            parts.append({"url": "movement", "valueCode": self.movement})
        parts += [{"url": "deleted", "valueString": spec} for spec in sorted(self.deleted)]
        return {"url": LAST_EVENT, "extension": [p for p in parts if next(iter(p.values()))]}


def instant(value: str) -> datetime:
    """A FHIR date or dateTime as an aware datetime (partial dates at their start; no zone:
    UTC); anything unreadable sorts first."""
    text = value.strip()
    if len(text) == 4:
        text += "-01-01"
    elif len(text) == 7:
        text += "-01"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _EPOCH
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_stamp(resource: Resource | None) -> Stamp | None:
    """The resource's event record, or None."""
    for ext in (resource or {}).get("extension") or []:
        if ext.get("url") == LAST_EVENT:
            subs = ext.get("extension") or []
            parts = {p.get("url"): p.get("valueCode") or p.get("valueDateTime") or "" for p in subs}
            deleted = tuple(str(p["valueString"]) for p in subs if p.get("url") == "deleted")
            if parts.get("time") or parts.get("event"):
                return Stamp(
                    str(parts.get("event", "")),
                    str(parts.get("time", "")),
                    str(parts.get("action") or "INSERT"),
                    str(parts.get("movement", "")),
                    deleted,
                )
    return None


def with_stamp(resource: Resource, stamp: Stamp | None) -> Resource:
    """The resource with its event record replaced by ``stamp`` (removed when None)."""
    others = [e for e in resource.get("extension") or [] if e.get("url") != LAST_EVENT]
    extensions = others + ([stamp.extension()] if stamp is not None else [])
    out = {k: v for k, v in resource.items() if k != "extension"}
    if extensions:
        out["extension"] = extensions
    return out


def marker(request: Resource, url: str) -> list[str]:
    """The values of one kind of marker on an entry's request."""
    return [
        str(e.get("valueCode") or e.get("valueString"))
        for e in request.get("extension") or []
        if e.get("url") == url and (e.get("valueCode") or e.get("valueString"))
    ]


__all__ = [
    "DEFAULT",
    "DELETE",
    "LAST_EVENT",
    "MARKERS",
    "ROLE",
    "Stamp",
    "instant",
    "marker",
    "read_stamp",
    "with_stamp",
]
