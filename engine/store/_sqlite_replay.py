"""Routing, replay and per-key ordering operations of the SQLite store.

Replay is two steps so that it works while an engine runs in another process:
:func:`request_replay` (the CLI) puts a finished message back to ``received`` with a
``replay_scope``; the engine notices it (start-up recovery or its store poller), routes it
again, and :func:`finish_routing` applies the scope to the message's deliveries.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from engine.errors import StoreError
from engine.message import DeliveryState, MessageState, new_id
from engine.store import _sqlite_ops as ops
from engine.store import _sqlite_schema as schema
from engine.store._semantics import plan_reroute
from engine.store.base import (
    Blocker,
    DeliveryRecord,
    KeyFunction,
    ReplayResult,
    RoutingOutcome,
    Unfinished,
)

SUPERSEDED = "superseded by replay: the new routing does not send here"


def finish_routing(
    conn: sqlite3.Connection, message_id: str, outcome: RoutingOutcome
) -> list[DeliveryRecord]:
    """Record the outcome, create (or, for a replay, reset) deliveries; return open ones."""
    now = time.time()
    row = ops.message_row(conn, message_id)
    current = MessageState(row[6])
    (scope_text,) = conn.execute(
        "SELECT replay_scope FROM messages WHERE id=?", (message_id,)
    ).fetchone()
    if current is not outcome.state:
        ops.transition(conn, message_id, current, outcome.state, outcome.reason)
    if outcome.metadata:
        merged = {**json.loads(row[5]), **outcome.metadata}
        conn.execute(
            "UPDATE messages SET metadata=?, control_id=? WHERE id=?",
            (json.dumps(merged, separators=(",", ":")), merged.get("hl7.control_id"), message_id),
        )
    pairs = list(dict.fromkeys(outcome.deliveries))  # route order, each pair once
    if scope_text is None:
        for seq, (destination, route) in enumerate(pairs):
            key = outcome.order_keys.get(destination)
            _insert(conn, message_id, destination, route, key, seq, now)
    else:
        _reroute(conn, message_id, pairs, outcome.order_keys, json.loads(scope_text), now)
    conn.execute(
        "UPDATE messages SET replay_scope=NULL, claim_owner=NULL, claim_until=NULL WHERE id=?",
        (message_id,),
    )
    rows = conn.execute(
        f"SELECT {schema.DELIVERY_COLUMNS} FROM deliveries WHERE message_id = ?"
        " AND state IN ('pending', 'retrying') ORDER BY seq, id",
        (message_id,),
    ).fetchall()
    return [schema.delivery_from_row(r) for r in rows]


def _insert(
    conn: sqlite3.Connection,
    message_id: str,
    destination: str,
    route: str,
    order_key: str | None,
    seq: int,
    now: float,
) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO deliveries (id, message_id, destination, route, state,"
        " created_at, updated_at, order_key, seq) VALUES (?,?,?,?,'pending',?,?,?,?)",
        (new_id(), message_id, destination, route, now, now, order_key, seq),
    )


def _reroute(
    conn: sqlite3.Connection,
    message_id: str,
    pairs: list[tuple[str, str]],
    order_keys: Mapping[str, str],
    scope: dict[str, Any],
    now: float,
) -> None:
    """Apply a replay's scope: see :func:`plan_reroute`."""
    plan = plan_reroute(ops.deliveries_of(conn, message_id), pairs, order_keys, scope)
    for seq, destination, route, key in plan.create:
        _insert(conn, message_id, destination, route, key, seq, now)
    for d, seq, route, key in plan.reset:
        ops.reset(conn, d, plan.reason, now, route=route, order_key=key, seq=seq)
    for d in plan.supersede:
        conn.execute(
            "UPDATE deliveries SET state='dead', released=1, next_attempt_at=NULL,"
            " last_error=?, updated_at=?, claim_owner=NULL, claim_until=NULL WHERE id=?",
            (SUPERSEDED, now, d.id),
        )
        ops.note(conn, d, DeliveryState.DEAD, SUPERSEDED, now)


def request_replay(
    conn: sqlite3.Connection,
    message_id: str,
    destination: str | None,
    resend_sent: bool,
    reason: str,
) -> ReplayResult:
    state = MessageState(ops.message_row(conn, message_id)[6])
    if not state.finished:
        return ReplayResult(message_id, False, f"still in progress ({state.value})")
    if state is MessageState.REJECTED:
        return ReplayResult(message_id, False, "rejected at intake; the sender was told so")
    text = reason + (f" (destination {destination})" if destination else "")
    text += ", resending sent deliveries" if resend_sent else ""
    scope = {"destination": destination, "resend": resend_sent, "reason": text}
    conn.execute(
        "UPDATE messages SET replay_scope=? WHERE id=?",
        (json.dumps(scope, separators=(",", ":")), message_id),
    )
    ops.transition(conn, message_id, state, MessageState.RECEIVED, text)
    return ReplayResult(message_id, True, f"{state.value} → received")


def release(conn: sqlite3.Connection, delivery_id: str, reason: str) -> DeliveryRecord:
    d = ops.delivery(conn, delivery_id)
    if d.state is not DeliveryState.DEAD:
        raise StoreError(f"delivery {delivery_id} is {d.state.value}, not dead")
    now = time.time()
    conn.execute("UPDATE deliveries SET released=1, updated_at=? WHERE id=?", (now, delivery_id))
    ops.note(conn, d, DeliveryState.DEAD, reason, now)
    return ops.delivery(conn, delivery_id)


def order_blocker(
    conn: sqlite3.Connection, d: DeliveryRecord, key_of: KeyFunction | None
) -> Blocker | None:
    """See :meth:`Store.order_blocker`; reads in one snapshot (a read transaction)."""
    if d.order_key is None:
        return None
    conn.execute("BEGIN")
    try:
        row = conn.execute(
            f"SELECT id, message_id, state FROM deliveries WHERE destination=? AND order_key=?"
            f" AND (message_id, seq) < (?, ?) AND {ops.holds_key()}"
            " ORDER BY message_id, seq LIMIT 1",
            (d.destination, d.order_key, d.message_id, d.seq),
        ).fetchone()
        if row is not None:
            return Blocker(message_id=str(row[1]), delivery_id=str(row[0]), state=str(row[2]))
        if key_of is None:
            return None
        unrouted = conn.execute(
            f"SELECT {schema.MESSAGE_COLUMNS} FROM messages"
            " WHERE state IN ('received', 'processing') AND id < ? ORDER BY id",
            (d.message_id,),
        )
        for message in unrouted:
            envelope = schema.message_from_row(message).envelope
            if key_of(envelope) == d.order_key:
                return Blocker(message_id=envelope.id, delivery_id=None, state="unrouted")
        return None
    finally:
        conn.execute("COMMIT")


def next_in_order(
    conn: sqlite3.Connection, destination: str, order_key: str
) -> DeliveryRecord | None:
    row = conn.execute(
        f"SELECT {schema.DELIVERY_COLUMNS} FROM deliveries WHERE destination=? AND order_key=?"
        f" AND {ops.holds_key()} ORDER BY message_id, seq LIMIT 1",
        (destination, order_key),
    ).fetchone()
    if row is None:
        return None
    head = schema.delivery_from_row(row)
    return None if head.state is DeliveryState.DEAD else head


def runnable(conn: sqlite3.Connection, now: float, limit: int) -> Unfinished:
    messages = [
        str(r[0])
        for r in conn.execute(
            "SELECT id FROM messages WHERE state IN ('received', 'processing')"
            f" AND {ops.unclaimed()} ORDER BY id LIMIT ?",
            (now, limit),
        )
    ]
    rows = conn.execute(
        "SELECT d.id, d.next_attempt_at FROM deliveries d"
        " WHERE d.state IN ('pending', 'retrying')"
        f" AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?) AND {ops.unclaimed('d')}"
        " AND (d.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries e"
        "  WHERE e.destination = d.destination AND e.order_key = d.order_key"
        f"  AND (e.message_id, e.seq) < (d.message_id, d.seq) AND {ops.holds_key('e')}))"
        " ORDER BY d.id LIMIT ?",
        (now, now, limit),
    ).fetchall()
    deliveries = [(str(r[0]), schema.dt(r[1]) if r[1] is not None else None) for r in rows]
    return Unfinished(messages, deliveries)


__all__ = [
    "SUPERSEDED",
    "finish_routing",
    "next_in_order",
    "order_blocker",
    "release",
    "request_replay",
    "runnable",
]
