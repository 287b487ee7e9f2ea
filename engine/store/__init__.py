"""The durable message store: interface, records, and backends."""

from __future__ import annotations

from engine.store.base import (
    DEFAULT_LEASE,
    Attempt,
    Blocker,
    DeliveryRecord,
    KeyFunction,
    MessageQuery,
    ReplayResult,
    RoutingOutcome,
    Store,
    StoredMessage,
    Transition,
    Unfinished,
)

__all__ = [
    "DEFAULT_LEASE",
    "Attempt",
    "Blocker",
    "DeliveryRecord",
    "KeyFunction",
    "MessageQuery",
    "ReplayResult",
    "RoutingOutcome",
    "Store",
    "StoredMessage",
    "Transition",
    "Unfinished",
]
