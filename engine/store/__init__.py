"""The durable message store: interface, records, and backends."""

from __future__ import annotations

from engine.store.base import (
    Attempt,
    DeliveryRecord,
    MessageQuery,
    RoutingOutcome,
    Store,
    StoredMessage,
    Transition,
    Unfinished,
)

__all__ = [
    "Attempt",
    "DeliveryRecord",
    "MessageQuery",
    "RoutingOutcome",
    "Store",
    "StoredMessage",
    "Transition",
    "Unfinished",
]
