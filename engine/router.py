"""The router: ordered routes with ``when`` conditions over envelope metadata.

Routes are evaluated in order. The first matching route decides, unless it says
``continue``, in which case later routes are evaluated too and destinations accumulate.
A matching ``drop`` route ends evaluation. A message no route matched goes to the reserved
``_unmatched`` route's destinations, if any, and ends in state ``unmatched`` either way.
A message a channel's intake policy dropped (metadata ``intake.drop_reason``) ends
``filtered`` before any route is tried.

Every (destination, route) pair that matches is its own delivery, with its own route's
transform: two routes sending one message to the same destination make two deliveries,
listed (and, for an ordered destination, delivered) in route order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from engine.message import Envelope, MessageState
from engine.store.base import RoutingOutcome

UNMATCHED = "_unmatched"
DROP_REASON = "intake.drop_reason"
"""Metadata set by a channel's intake policy: the message ends ``filtered`` with it."""


@dataclass(frozen=True, slots=True)
class Condition:
    """``key`` is an envelope attribute (``channel``, ``content_type``) or a metadata key."""

    key: str
    accepted: frozenset[str]

    def matches(self, envelope: Envelope) -> bool:
        if self.key == "channel":
            value = envelope.channel
        elif self.key == "content_type":
            value = envelope.content_type
        else:
            value = envelope.metadata.get(self.key, "")
        return value in self.accepted


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    name: str
    channels: frozenset[str] | None
    conditions: tuple[Condition, ...]
    destinations: tuple[str, ...]
    drop: bool = False
    continue_: bool = False

    def matches(self, envelope: Envelope) -> bool:
        if self.channels is not None and envelope.channel not in self.channels:
            return False
        return all(c.matches(envelope) for c in self.conditions)


def condition(key: str, value: str | Iterable[str]) -> Condition:
    values = [value] if isinstance(value, str) else list(value)
    return Condition(key, frozenset(values))


class Router:
    """Pure and thread-safe: :meth:`route` only reads the envelope."""

    def __init__(self, routes: Sequence[CompiledRoute]) -> None:
        self.unmatched = next((r for r in routes if r.name == UNMATCHED), None)
        self.routes = tuple(r for r in routes if r.name != UNMATCHED)

    def route(self, envelope: Envelope) -> RoutingOutcome:
        dropped_at_intake = envelope.metadata.get(DROP_REASON)
        if dropped_at_intake:
            return RoutingOutcome(MessageState.FILTERED, f"dropped at intake: {dropped_at_intake}")
        matched: list[str] = []
        deliveries: dict[tuple[str, str], None] = {}  # (destination, route), route order
        for route in self.routes:
            if not route.matches(envelope):
                continue
            if route.drop:
                if not deliveries:
                    return RoutingOutcome(MessageState.FILTERED, f"dropped by route '{route.name}'")
                break
            matched.append(route.name)
            for dest in route.destinations:
                deliveries[(dest, route.name)] = None
            if not route.continue_:
                break
        if matched:
            reason = "matched route " + ", ".join(f"'{n}'" for n in matched)
            return RoutingOutcome(MessageState.ROUTED, reason, tuple(deliveries))
        fallback = self.unmatched.destinations if self.unmatched else ()
        return RoutingOutcome(
            MessageState.UNMATCHED,
            "no route matched" + (f"; sent to '{UNMATCHED}' destinations" if fallback else ""),
            tuple((d, UNMATCHED) for d in fallback),
        )

    def destinations(self) -> Mapping[str, list[str]]:
        """destination name → route names using it."""
        used: dict[str, list[str]] = {}
        for route in (*self.routes, *([self.unmatched] if self.unmatched else [])):
            for dest in route.destinations:
                used.setdefault(dest, []).append(route.name)
        return used


__all__ = ["UNMATCHED", "CompiledRoute", "Condition", "Router", "condition"]
