"""Store semantics shared by the backends: what a replay does to deliveries, claim reasons.

Both stores apply the plan computed here inside the transaction that records the routing
outcome, so SQLite and PostgreSQL give a replay the same meaning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.message import DeliveryState, MessageState
from engine.store.base import DeliveryRecord


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


__all__ = ["ReroutePlan", "plan_reroute", "resumed_reason"]
