"""Read–merge–conditional update: how the ``fhir`` destination applies a marked Bundle.

A map marks the entries to merge (``update-role``, see :mod:`engine.formats.fhir.events`).
For such a Bundle the destination, instead of POSTing it as it is:

1. reads the current resources in one ``batch`` of searches: each marked entry by its
   business identifier (its conditional URL, ``Encounter?identifier=system|value``), then,
   in a second batch, the movements of each known stay (``Encounter?part-of=``) and the
   Encounters of a merged patient (``Encounter?subject=``);
2. merges and settles them (:func:`engine.formats.fhir.plan.plan`);
3. POSTs one transaction: ``PUT Type/id`` with ``ifMatch`` for what exists, conditional
   create for what is new, nothing for what is unchanged;
4. when the platform answers 412 or 409 (someone changed a resource since the read), reads
   again and retries, at most :data:`ROUNDS` times, then fails as retryable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from channels.fhir.bundle import Request, read_response
from channels.fhir.errors import body_json
from engine.errors import PermanentDeliveryError, RetryableDeliveryError
from engine.formats.fhir.events import ROLE, marker
from engine.formats.fhir.plan import plan
from engine.formats.fhir.reads import (
    Ambiguous,
    Marked,
    State,
    add_related,
    marked_entries,
    related_queries,
    resolve,
)

ROUNDS = 4
CONFLICTS = (409, 412)
Call = Callable[[Request, str, tuple[int, ...]], Awaitable[httpx.Response]]


def is_marked(bundle: dict[str, Any]) -> bool:
    """True when the Bundle asks for the update mechanism (an entry has an update-role)."""
    if bundle.get("resourceType") != "Bundle":
        return False
    return any(
        marker((entry.get("request") or {}) if isinstance(entry, dict) else {}, ROLE)
        for entry in bundle.get("entry") or []
    )


async def apply(bundle: dict[str, Any], call: Call) -> str:
    """Read, merge, and write ``bundle`` (see module doc); the delivery detail, with the
    merge's findings (e.g. INS traits missing) in parentheses.

    Raises:
        RetryableDeliveryError: still conflicting after :data:`ROUNDS` attempts, or a read
            failed transiently; PermanentDeliveryError: an identifier matches several
            resources, or the platform refused the transaction.
    """
    try:
        marked = marked_entries(bundle)
    except ValueError as exc:  # a map defect: a marked resource without an identifier
        raise PermanentDeliveryError(f"payload: {exc}") from exc
    for _ in range(ROUNDS):
        state = await _read(marked, call)
        notes: list[str] = []
        transaction = plan(bundle, marked, state, notes)
        found = f" ({'; '.join(notes)})" if notes else ""
        if not transaction["entry"]:
            return "unchanged: the platform already holds this" + found
        response = await call(Request("POST", "", transaction), "POST transaction", CONFLICTS)
        if response.status_code in CONFLICTS:
            continue
        return read_response("transaction", body_json(response), response.content) + found
    raise RetryableDeliveryError(
        f"POST transaction: HTTP 412 {ROUNDS} times: the resources kept changing between "
        "read and write"
    )


async def _search(queries: list[str], call: Call) -> list[list[dict[str, Any]]]:
    """The resources each search finds, in one batch."""
    if not queries:
        return []
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": q}} for q in queries],
    }
    response = await call(Request("POST", "", batch), "POST batch (read)", ())
    answer = body_json(response)
    entries = answer.get("entry") if isinstance(answer, dict) else None
    if not isinstance(entries, list) or len(entries) != len(queries):
        raise PermanentDeliveryError("POST batch (read): the answer is not a batch-response")
    found: list[list[dict[str, Any]]] = []
    for i, entry in enumerate(entries, start=1):
        status = str((entry.get("response") or {}).get("status", ""))[:3]
        if status != "200":
            text = f"POST batch (read): entry {i}: HTTP {status or '?'}"
            retryable = not status.isdigit() or int(status) >= 500 or status in ("408", "429")
            raise (RetryableDeliveryError if retryable else PermanentDeliveryError)(text)
        bundle = entry.get("resource") or {}
        if any(link.get("relation") == "next" for link in bundle.get("link") or []):
            raise PermanentDeliveryError(
                f"POST batch (read): entry {i}: more results than one page (not followed)"
            )
        found.append([e["resource"] for e in bundle.get("entry") or [] if e.get("resource")])
    return found


async def _read(marked: list[Marked], call: Call) -> State:
    try:
        state = resolve(marked, await _search([m.search for m in marked], call))
    except Ambiguous as exc:
        raise PermanentDeliveryError(str(exc)) from exc
    queries = related_queries(marked, state)
    add_related(state, queries, await _search(queries, call))
    return state


__all__ = ["CONFLICTS", "ROUNDS", "apply", "is_marked"]
