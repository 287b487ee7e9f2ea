"""A stay (the venue Encounter) and its movements (the Encounters ``partOf`` it), settled.

After the movements a message carries are merged, the whole stay is recomputed from its
movements, so that the result depends on which movements exist and are cancelled, never
on the order in which the messages arrived (pure function, see ``settle``):

* the movements that count are those neither cancelled (``entered-in-error``) nor pending
  (A05, A14, A15, A16: ``planned``), ordered by start (ZBE-2);
* each one is closed by the next (``period.end`` = the next start, ``finished``); the last
  is ``in-progress`` (``onleave`` after an A21) unless a discharge follows it;
* a discharge movement (A03) is an instant (start = end) and finishes the stay: the stay is
  ``finished`` with ``period.end`` = the discharge time; without one (never sent, or
  cancelled by an A13) the stay has no end and no discharge disposition;
* the stay's ``location[]`` is the history of the counted movements' locations, each with
  the movement's period and ``completed`` / ``active``;
* a stay whose admission was cancelled (A11, A38) and that has no other movement keeps the
  cancelled status its cancellation gave (``entered-in-error`` by default);
* a stay without any movement (no ZBE in the feed) is left as merged.
"""

from __future__ import annotations

import copy

from engine.formats.fhir.events import Resource, instant, read_stamp
from engine.formats.fhir.merge import CANCELLED

PENDING = frozenset({"A05", "A14", "A15", "A16"})
DISCHARGES = frozenset({"A03"})
ADMISSIONS = frozenset({"A01", "A04", "A05", "A14", "A38", "A11"})
LEAVE = frozenset({"A21"})


def kind(movement: Resource) -> str:
    """The event that created the movement (its stamp's ``movement``, else its event)."""
    stamp = read_stamp(movement)
    return (stamp.movement or stamp.event) if stamp else ""


def _start(resource: Resource) -> str:
    return str((resource.get("period") or {}).get("start", ""))


def _counted(movements: list[Resource]) -> list[Resource]:
    alive = [
        m
        for m in movements
        if m.get("status") not in (CANCELLED, "cancelled") and kind(m) not in PENDING
    ]

    def order(m: Resource) -> tuple[object, ...]:
        ident = (m.get("identifier") or [{}])[0].get("value", "")
        return instant(_start(m)), kind(m) in DISCHARGES, ident

    return sorted(alive, key=order)


def settle(venue: Resource, movements: list[Resource]) -> tuple[Resource, list[Resource]]:
    """The stay and its movements made consistent (see module doc); inputs are not changed."""
    venue = copy.deepcopy(venue)
    movements = [copy.deepcopy(m) for m in movements]
    if not movements:
        return venue, movements
    counted = _counted(movements)
    for i, movement in enumerate(counted):
        period = dict(movement.get("period") or {})
        following = counted[i + 1] if i + 1 < len(counted) else None
        if kind(movement) in DISCHARGES:
            period["end"] = period.get("start")
            movement["status"] = "finished"
        elif following is not None and _start(following):
            period["end"] = _start(following)
            movement["status"] = "finished"
        else:
            period.pop("end", None)
            movement["status"] = "onleave" if kind(movement) in LEAVE else "in-progress"
        movement["period"] = {k: v for k, v in period.items() if v}
        closed = movement["status"] == "finished"
        for place in movement.get("location") or []:
            place["status"] = "completed" if closed else "active"
    _settle_venue(venue, movements, counted)
    return venue, movements


def _settle_venue(venue: Resource, movements: list[Resource], counted: list[Resource]) -> None:
    period = dict(venue.get("period") or {})
    discharges = [m for m in counted if kind(m) in DISCHARGES]
    stays = [m for m in counted if kind(m) not in DISCHARGES]
    if discharges:
        venue["status"] = "finished"
        period["end"] = _start(discharges[-1])
    else:
        period.pop("end", None)
        hospitalization = venue.get("hospitalization") or {}
        hospitalization.pop("dischargeDisposition", None)
        if hospitalization:
            venue["hospitalization"] = hospitalization
        else:
            venue.pop("hospitalization", None)
        if stays:
            venue["status"] = stays[-1]["status"]
        elif any(kind(m) in ADMISSIONS and m.get("status") == CANCELLED for m in movements):
            if venue.get("status") not in (CANCELLED, "cancelled"):
                venue["status"] = CANCELLED
        elif venue.get("status") == "finished":
            venue["status"] = "in-progress"
    if counted and not period.get("start"):
        period["start"] = _start(counted[0])
    period = {k: v for k, v in period.items() if v}
    if period:
        venue["period"] = period
    else:
        venue.pop("period", None)
    history = []
    for movement in stays:
        when = movement.get("period") or {}
        for place in movement.get("location") or []:
            entry = {k: v for k, v in place.items() if k != "period"}
            history.append({**copy.deepcopy(entry), "period": copy.deepcopy(when)})
    if history:
        venue["location"] = history
    elif stays == [] and counted == [] and movements:
        venue.pop("location", None)


__all__ = ["DISCHARGES", "PENDING", "kind", "settle"]
