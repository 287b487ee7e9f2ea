"""Operations of :class:`~engine.store.sqlite.SqliteStore` that run on one connection.

Write operations run in the group-commit writer thread, inside the batch's transaction
(one SAVEPOINT each); read helpers run on a reader connection. Nothing here commits.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from engine.errors import NotFound
from engine.message import DeliveryState, Envelope, MessageState
from engine.store import _sqlite_schema as schema
from engine.store.base import (
    INTAKE_KEY,
    Attempt,
    DeliveryRecord,
    Transition,
    Unfinished,
)
from engine.store.crypto import PayloadCipher


def holds_key(alias: str = "") -> str:
    """SQL condition: the delivery (table alias ``alias``) holds its ordering key, i.e. it is
    unfinished, or dead and not released."""
    p = f"{alias}." if alias else ""
    return f"({p}state IN ('pending', 'retrying') OR ({p}state = 'dead' AND {p}released = 0))"


def insert_op(
    envelope: Envelope, state: MessageState, reason: str, cipher: PayloadCipher
) -> Callable[[sqlite3.Connection], None]:
    received = schema.ts(envelope.received_at)
    raw, key_id = cipher.seal(envelope.raw, f"message {envelope.id}")
    values = (
        envelope.id,
        envelope.channel,
        received,
        envelope.content_type,
        raw,
        json.dumps(dict(envelope.metadata), separators=(",", ":")),
        envelope.metadata.get("hl7.control_id"),
        envelope.metadata.get(INTAKE_KEY),
        state.value,
        reason,
        received,
        key_id,
    )

    def op(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO messages (id, channel, received_at, content_type, raw, metadata,"
            " control_id, intake_key, state, reason, updated_at, key_id)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            values,
        )
        conn.execute(
            "INSERT INTO transitions (message_id, at, from_state, to_state, reason)"
            " VALUES (?,?,NULL,?,?)",
            (envelope.id, received, state.value, reason),
        )

    return op


def message_row(conn: sqlite3.Connection, message_id: str) -> tuple[Any, ...]:
    row = conn.execute(
        f"SELECT {schema.MESSAGE_COLUMNS} FROM messages WHERE id=?", (message_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no message {message_id}")
    return tuple(row)


def delivery(conn: sqlite3.Connection, delivery_id: str) -> DeliveryRecord:
    row = conn.execute(
        f"SELECT {schema.DELIVERY_COLUMNS} FROM deliveries WHERE id=?", (delivery_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    return schema.delivery_from_row(row)


def deliveries_of(conn: sqlite3.Connection, message_id: str) -> list[DeliveryRecord]:
    rows = conn.execute(
        f"SELECT {schema.DELIVERY_COLUMNS} FROM deliveries WHERE message_id=? ORDER BY seq, id",
        (message_id,),
    ).fetchall()
    return [schema.delivery_from_row(r) for r in rows]


def transition(
    conn: sqlite3.Connection,
    message_id: str,
    from_state: MessageState,
    to_state: MessageState,
    reason: str,
) -> None:
    now = time.time()
    conn.execute(
        "UPDATE messages SET state=?, reason=?, updated_at=? WHERE id=?",
        (to_state.value, reason, now, message_id),
    )
    conn.execute(
        "INSERT INTO transitions (message_id, at, from_state, to_state, reason) VALUES (?,?,?,?,?)",
        (message_id, now, from_state.value, to_state.value, reason),
    )


def note(
    conn: sqlite3.Connection, d: DeliveryRecord, outcome: DeliveryState, text: str, now: float
) -> None:
    """Record an operator or engine action in the delivery's attempt list (not an attempt:
    it carries the current attempt count)."""
    conn.execute(
        "INSERT INTO attempts (delivery_id, number, at, outcome, detail) VALUES (?,?,?,?,?)",
        (d.id, d.attempts, now, outcome.value, text),
    )


def reset(
    conn: sqlite3.Connection,
    d: DeliveryRecord,
    reason: str,
    now: float,
    *,
    route: str,
    order_key: str | None,
    seq: int | None = None,
) -> None:
    """Back to ``pending``, due now, with a fresh retry budget, holding its key again."""
    conn.execute(
        "UPDATE deliveries SET state='pending', next_attempt_at=NULL, released=0,"
        " attempts_at_replay=attempts, route=?, order_key=?, seq=?, updated_at=?,"
        " claim_owner=NULL, claim_until=NULL WHERE id=?",
        (route, order_key, d.seq if seq is None else seq, now, d.id),
    )
    note(conn, d, DeliveryState.PENDING, reason, now)


def unclaimed(alias: str = "") -> str:
    """SQL condition, one ``now`` argument: no live claim on the row (alias ``alias``)."""
    p = f"{alias}." if alias else ""
    return f"({p}claim_until IS NULL OR {p}claim_until <= ?)"


def claimed_by_other(
    owner: str | None, claim_owner: str | None, claim_until: float | None, now: float
) -> bool:
    """True when a live claim on a row belongs to someone other than ``owner``."""
    if claim_until is None or claim_until <= now:
        return False
    return owner is None or claim_owner != owner


def history(conn: sqlite3.Connection, message_id: str) -> list[Transition]:
    rows = conn.execute(
        "SELECT at, from_state, to_state, reason FROM transitions WHERE message_id=? ORDER BY seq",
        (message_id,),
    ).fetchall()
    if not rows:
        message_row(conn, message_id)  # NotFound for an unknown message
    return [schema.transition_from_row(r) for r in rows]


def attempts(conn: sqlite3.Connection, delivery_id: str) -> list[Attempt]:
    rows = conn.execute(
        "SELECT delivery_id, number, at, outcome, detail FROM attempts"
        " WHERE delivery_id=? ORDER BY seq",
        (delivery_id,),
    ).fetchall()
    return [schema.attempt_from_row(r) for r in rows]


def unfinished(conn: sqlite3.Connection) -> Unfinished:
    ids = [
        str(r[0])
        for r in conn.execute(
            "SELECT id FROM messages WHERE state IN ('received', 'processing') ORDER BY id"
        )
    ]
    deliveries = [
        (str(r[0]), schema.dt(r[1]) if r[1] is not None else None)
        for r in conn.execute(
            "SELECT id, next_attempt_at FROM deliveries"
            " WHERE state IN ('pending', 'retrying') ORDER BY id"
        )
    ]
    return Unfinished(ids, deliveries)


__all__ = [
    "attempts",
    "claimed_by_other",
    "deliveries_of",
    "delivery",
    "history",
    "holds_key",
    "insert_op",
    "message_row",
    "note",
    "reset",
    "transition",
    "unclaimed",
    "unfinished",
]
