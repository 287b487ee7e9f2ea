"""Store semantics shared by the backends: what a replay does to deliveries, claim reasons.

Both stores apply the plan computed here inside the transaction that records the routing
outcome, so SQLite and PostgreSQL give a replay the same meaning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.message import DeliveryState, MessageState
from engine.store.base import DeliveryRecord, MessageQuery, ReplayResult


@dataclass(slots=True)
class ReroutePlan:
    """Deliveries to create (seq, destination, route, key), to reset to ``pending``
    (delivery, seq, route, key) and to supersede (dead and released)."""

    reason: str
    create: list[tuple[int, str, str, str | None]] = field(default_factory=list)
    reset: list[tuple[DeliveryRecord, int, str, str | None]] = field(default_factory=list)
    supersede: list[DeliveryRecord] = field(default_factory=list)


def plan_reroute(
    existing: Sequence[DeliveryRecord],
    pairs: Sequence[tuple[str, str]],
    order_keys: Mapping[str, str],
    scope: Mapping[str, Any],
) -> ReroutePlan:
    """Match the new routing's (destination, route) ``pairs`` with the ``existing``
    deliveries, within the replay ``scope`` (``destination``: only that one; ``resend``:
    sent ones go again too).

    A pair keeps its existing delivery; a pair without one adopts an existing delivery to
    the same destination whose route the new routing no longer names (a renamed route
    keeps its history and is not resent), else a delivery is created. Matched deliveries
    that are not sent (or all, with ``resend``) go back to ``pending``; unmatched ones in
    scope that are not sent are superseded.
    """
    only, resend = scope.get("destination"), bool(scope.get("resend"))
    plan = ReroutePlan(reason=str(scope["reason"]))
    wanted = set(pairs)
    by_pair = {(d.destination, d.route): d for d in existing}
    spare: dict[str, list[DeliveryRecord]] = {}
    for old in sorted(existing, key=lambda d: d.id):  # adopted oldest first
        if (old.destination, old.route) not in wanted:
            spare.setdefault(old.destination, []).append(old)
    kept: set[str] = set()
    for seq, (destination, route) in enumerate(pairs):
        if only is not None and destination != only:
            continue
        key = order_keys.get(destination)
        d: DeliveryRecord | None = by_pair.get((destination, route))
        if d is None and spare.get(destination):
            d = spare[destination].pop(0)
        if d is None:
            plan.create.append((seq, destination, route, key))
            continue
        kept.add(d.id)
        if d.state is not DeliveryState.SENT or resend:
            plan.reset.append((d, seq, route, key))
    for old in existing:
        in_scope = only is None or old.destination == only
        if old.id in kept or not in_scope or old.state is DeliveryState.SENT:
            continue
        plan.supersede.append(old)
    return plan


def message_filter(
    q: MessageQuery, mark: str, time: Callable[[datetime], object]
) -> tuple[str, list[object]]:
    """The WHERE clause (messages aliased ``m``) and arguments of a :class:`MessageQuery`,
    with the backend's parameter ``mark`` and time conversion."""
    clauses: list[str] = []
    args: list[object] = []
    if q.channel:
        clauses.append(f"m.channel = {mark}")
        args.append(q.channel)
    if q.state:
        clauses.append(f"m.state = {mark}")
        args.append(q.state.value)
    if q.since:
        clauses.append(f"m.received_at >= {mark}")
        args.append(time(q.since))
    if q.until:
        clauses.append(f"m.received_at < {mark}")
        args.append(time(q.until))
    if q.control_id:
        clauses.append(f"m.control_id = {mark}")
        args.append(q.control_id)
    if q.destination or q.delivery_state:
        sub = ["d.message_id = m.id"]
        if q.destination:
            sub.append(f"d.destination = {mark}")
            args.append(q.destination)
        if q.delivery_state:
            sub.append(f"d.state = {mark}")
            args.append(q.delivery_state.value)
        clauses.append(f"EXISTS (SELECT 1 FROM deliveries d WHERE {' AND '.join(sub)})")
    return ("WHERE " + " AND ".join(clauses) if clauses else "", args)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

PURGEABLE = (
    "m.purged_at IS NULL AND m.state IN ('routed', 'filtered', 'unmatched', 'rejected')"
    " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id"
    " AND d.state <> 'sent')"
)
"""SQL condition on messages ``m``: retention may remove its payload."""

PURGED_NOTE = "its payload was removed by retention; ask the sender to resend it"


def id_bound(moment: datetime) -> str:
    """The smallest message id (ULID) made at ``moment``: ids below it are older."""
    value = int(moment.timestamp() * 1000) << 80
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def purge_filter(
    before: datetime, channel: str | None, exclude: Sequence[str], mark: str
) -> tuple[str, list[object]]:
    """The WHERE clause and arguments selecting the messages ``purge_payloads`` removes."""
    clauses = [PURGEABLE, f"m.id < {mark}"]
    args: list[object] = [id_bound(before)]
    if channel is not None:
        clauses.append(f"m.channel = {mark}")
        args.append(channel)
    for name in exclude:
        clauses.append(f"m.channel <> {mark}")
        args.append(name)
    return " AND ".join(clauses), args


def replay_scope(
    message_id: str,
    state: MessageState,
    purged: bool,
    destination: str | None,
    resend_sent: bool,
    reason: str,
) -> tuple[ReplayResult, dict[str, Any] | None]:
    """What :meth:`Store.request_replay` does with a message in ``state``: the result,
    and the scope to record (None when the message is left alone)."""
    if purged:
        return ReplayResult(message_id, False, PURGED_NOTE), None
    if not state.finished:
        return ReplayResult(message_id, False, f"still in progress ({state.value})"), None
    if state is MessageState.REJECTED:
        note = "rejected at intake; the sender was told so"
        return ReplayResult(message_id, False, note), None
    text = reason + (f" (destination {destination})" if destination else "")
    text += ", resending sent deliveries" if resend_sent else ""
    scope = {"destination": destination, "resend": resend_sent, "reason": text}
    return ReplayResult(message_id, True, f"{state.value} → received"), scope


def resumed_reason(current: MessageState, claim_owner: str | None, owner: str | None) -> str:
    """The transition reason when :meth:`Store.start_processing` takes a message: empty
    for a fresh one, and for one already ``processing`` whether it is resumed after a
    restart or taken over from another owner whose lease expired. Empty too when the
    same owner renews its claim (no transition is recorded then)."""
    if current is not MessageState.PROCESSING:
        return ""
    if claim_owner is not None and claim_owner == owner:
        return ""
    if claim_owner is not None:
        return f"taken over from {claim_owner} (lease expired)"
    return "resumed after restart"


__all__ = [
    "PURGEABLE",
    "PURGED_NOTE",
    "ReroutePlan",
    "id_bound",
    "message_filter",
    "plan_reroute",
    "purge_filter",
    "replay_scope",
    "resumed_reason",
]
