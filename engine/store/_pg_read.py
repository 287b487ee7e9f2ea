"""Read queries of :class:`~engine.store.postgres.PostgresStore` (no locks taken).

:func:`order_blocker` reads in one ``REPEATABLE READ`` snapshot, so the deliveries and
the unrouted messages it looks at are seen at the same instant even while other nodes
route and deliver.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.errors import NotFound
from engine.message import DeliveryState, MessageState
from engine.store import _pg_schema as schema
from engine.store._pg_ops import HOLDS_KEY, Conn
from engine.store.base import (
    Attempt,
    Blocker,
    DeliveryRecord,
    KeyFunction,
    StoredMessage,
    Transition,
    Unfinished,
)
from engine.store.crypto import CLEAR, PayloadCipher

UNCLAIMED = "(claim_until IS NULL OR claim_until <= clock_timestamp())"


async def rows(conn: Conn, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await (await conn.execute(sql, args)).fetchall()]


async def message(conn: Conn, message_id: str, cipher: PayloadCipher) -> StoredMessage:
    found = await rows(
        conn, f"SELECT {schema.MESSAGE_COLUMNS} FROM messages WHERE id=%s", (message_id,)
    )
    if not found:
        raise NotFound(f"no message {message_id}")
    return schema.message_from_row(found[0], cipher)


async def delivery(conn: Conn, delivery_id: str) -> DeliveryRecord:
    found = await rows(
        conn, f"SELECT {schema.DELIVERY_COLUMNS} FROM deliveries WHERE id=%s", (delivery_id,)
    )
    if not found:
        raise NotFound(f"no delivery {delivery_id}")
    return schema.delivery_from_row(found[0])


async def deliveries_of(conn: Conn, message_id: str) -> list[DeliveryRecord]:
    found = await rows(
        conn,
        f"SELECT {schema.DELIVERY_COLUMNS} FROM deliveries WHERE message_id=%s ORDER BY seq, id",
        (message_id,),
    )
    return [schema.delivery_from_row(r) for r in found]


async def history(conn: Conn, message_id: str) -> list[Transition]:
    found = await rows(
        conn,
        "SELECT at, from_state, to_state, reason FROM transitions WHERE message_id=%s ORDER BY seq",
        (message_id,),
    )
    if not found:
        await message(conn, message_id, CLEAR)  # NotFound for an unknown message
    return [schema.transition_from_row(r) for r in found]


async def attempts(conn: Conn, delivery_id: str) -> list[Attempt]:
    found = await rows(
        conn,
        "SELECT delivery_id, number, at, outcome, detail FROM attempts WHERE delivery_id=%s"
        " ORDER BY seq",
        (delivery_id,),
    )
    return [schema.attempt_from_row(r) for r in found]


async def unfinished(conn: Conn) -> Unfinished:
    ids = await rows(
        conn, "SELECT id FROM messages WHERE state IN ('received', 'processing') ORDER BY id"
    )
    open_deliveries = await rows(
        conn,
        "SELECT id, next_attempt_at FROM deliveries WHERE state IN ('pending', 'retrying')"
        " ORDER BY id",
    )
    return Unfinished([r[0] for r in ids], [(r[0], r[1]) for r in open_deliveries])


async def runnable(conn: Conn, now: datetime, limit: int) -> Unfinished:
    ids = await rows(
        conn,
        "SELECT id FROM messages WHERE state IN ('received', 'processing')"
        f" AND {UNCLAIMED} ORDER BY id LIMIT %s",
        (limit,),
    )
    due = await rows(
        conn,
        "SELECT d.id, d.next_attempt_at FROM deliveries d"
        " WHERE d.state IN ('pending', 'retrying')"
        " AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= %s)"
        " AND (d.claim_until IS NULL OR d.claim_until <= clock_timestamp())"
        " AND (d.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries e"
        "  WHERE e.destination = d.destination AND e.order_key = d.order_key"
        "  AND (e.message_id, e.seq) < (d.message_id, d.seq)"
        "  AND (e.state IN ('pending', 'retrying') OR (e.state = 'dead' AND NOT e.released))))"
        " ORDER BY d.id LIMIT %s",
        (now, limit),
    )
    return Unfinished([r[0] for r in ids], [(r[0], r[1]) for r in due])


async def order_blocker(
    conn: Conn, d: DeliveryRecord, key_of: KeyFunction | None, cipher: PayloadCipher
) -> Blocker | None:
    """See :meth:`Store.order_blocker`; the caller opened a REPEATABLE READ transaction."""
    if d.order_key is None:
        return None
    found = await rows(
        conn,
        "SELECT id, message_id, state FROM deliveries WHERE destination=%s AND order_key=%s"
        f" AND (message_id, seq) < (%s, %s) AND {HOLDS_KEY} ORDER BY message_id, seq LIMIT 1",
        (d.destination, d.order_key, d.message_id, d.seq),
    )
    if found:
        return Blocker(message_id=found[0][1], delivery_id=found[0][0], state=found[0][2])
    if key_of is None:
        return None
    cursor = await conn.execute(
        f"SELECT {schema.MESSAGE_COLUMNS} FROM messages"
        " WHERE state IN ('received', 'processing') AND id < %s ORDER BY id",
        (d.message_id,),
    )
    async for row in cursor:
        envelope = schema.message_from_row(tuple(row), cipher).envelope
        if key_of(envelope) == d.order_key:
            return Blocker(message_id=envelope.id, delivery_id=None, state="unrouted")
    return None


async def next_in_order(conn: Conn, destination: str, order_key: str) -> DeliveryRecord | None:
    found = await rows(
        conn,
        f"SELECT {schema.DELIVERY_COLUMNS} FROM deliveries WHERE destination=%s"
        f" AND order_key=%s AND {HOLDS_KEY} ORDER BY message_id, seq LIMIT 1",
        (destination, order_key),
    )
    if not found:
        return None
    head = schema.delivery_from_row(found[0])
    return None if head.state is DeliveryState.DEAD else head


async def count_by_state(conn: Conn) -> dict[MessageState, int]:
    found = await rows(conn, "SELECT state, count(*) FROM messages GROUP BY state")
    return {MessageState(s): int(n) for s, n in found}


async def intake_keys(conn: Conn, channel: str, prefix: str) -> set[str]:
    found = await rows(
        conn,
        "SELECT intake_key FROM messages WHERE channel=%s AND intake_key >= %s AND intake_key < %s",
        (channel, prefix, prefix + "\U0010ffff"),
    )
    return {r[0] for r in found}


async def was_delivered(conn: Conn, destination: str, dedupe_key: str) -> bool:
    found = await rows(
        conn, "SELECT 1 FROM dedupe WHERE destination=%s AND key=%s", (destination, dedupe_key)
    )
    return bool(found)


__all__ = [
    "attempts",
    "count_by_state",
    "deliveries_of",
    "delivery",
    "history",
    "intake_keys",
    "message",
    "next_in_order",
    "order_blocker",
    "runnable",
    "unfinished",
    "was_delivered",
]
