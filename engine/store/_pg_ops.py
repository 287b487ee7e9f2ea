"""Write operations of :class:`~engine.store.postgres.PostgresStore`, one transaction each.

Every function runs inside a transaction the store opened on a pooled connection and
locks the rows it changes (``SELECT … FOR UPDATE``) before deciding anything, so two
nodes working on the same message or delivery serialise on the row. Claims use the
database server's clock (``clock_timestamp()``), the one clock every node shares.
Claiming a delivery with an ordering key first takes a transaction-scoped advisory lock
on (destination, key): the check that no earlier delivery of that key still holds it and
the claim itself are then atomic across nodes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from engine.errors import NotFound, StoreError
from engine.message import DeliveryState, MessageState, new_id, utcnow
from engine.store import _pg_schema as schema
from engine.store._semantics import plan_reroute, replay_scope, resumed_reason
from engine.store.base import DeliveryRecord, ReplayResult, RoutingOutcome, StoredMessage
from engine.store.crypto import PayloadCipher

Conn = AsyncConnection[Any]
HOLDS_KEY = "(state IN ('pending', 'retrying') OR (state = 'dead' AND NOT released))"
LIVE = "claim_until > clock_timestamp()"
SUPERSEDED = "superseded by replay: the new routing does not send here"


async def _one(conn: Conn, sql: str, args: tuple[Any, ...], missing: str) -> tuple[Any, ...]:
    row = await (await conn.execute(sql, args)).fetchone()
    if row is None:
        raise NotFound(missing)
    return tuple(row)


async def locked_delivery(conn: Conn, delivery_id: str) -> DeliveryRecord:
    row = await _one(
        conn,
        f"SELECT {schema.DELIVERY_COLUMNS} FROM deliveries WHERE id=%s FOR UPDATE",
        (delivery_id,),
        f"no delivery {delivery_id}",
    )
    return schema.delivery_from_row(row)


async def transition(
    conn: Conn, message_id: str, from_state: MessageState, to_state: MessageState, reason: str
) -> None:
    now = utcnow()
    await conn.execute(
        "UPDATE messages SET state=%s, reason=%s, updated_at=%s WHERE id=%s",
        (to_state.value, reason, now, message_id),
    )
    await conn.execute(
        "INSERT INTO transitions (message_id, at, from_state, to_state, reason)"
        " VALUES (%s,%s,%s,%s,%s)",
        (message_id, now, from_state.value, to_state.value, reason),
    )


async def start_processing(
    conn: Conn, message_id: str, owner: str | None, lease: float, cipher: PayloadCipher
) -> StoredMessage | None:
    row = await _one(
        conn,
        f"SELECT {schema.MESSAGE_COLUMNS}, claim_owner, coalesce({LIVE}, false) FROM messages"
        " WHERE id=%s FOR UPDATE",
        (message_id,),
        f"no message {message_id}",
    )
    current, claim_owner, live = MessageState(row[6]), row[10], row[11]
    if current.finished or (live and (owner is None or claim_owner != owner)):
        return None
    reason = resumed_reason(current, claim_owner, owner)
    if current is not MessageState.PROCESSING or reason:
        await transition(conn, message_id, current, MessageState.PROCESSING, reason)
    if owner is not None:
        await conn.execute(
            "UPDATE messages SET claim_owner=%s,"
            " claim_until=clock_timestamp() + make_interval(secs => %s) WHERE id=%s",
            (owner, lease, message_id),
        )
    return schema.message_from_row(
        (*row[:6], MessageState.PROCESSING.value, reason, *row[8:10]), cipher
    )


async def finish_routing(
    conn: Conn, message_id: str, outcome: RoutingOutcome
) -> list[DeliveryRecord]:
    state, scope = await _one(
        conn,
        "SELECT state, replay_scope FROM messages WHERE id=%s FOR UPDATE",
        (message_id,),
        f"no message {message_id}",
    )
    current = MessageState(state)
    if current is not outcome.state:
        await transition(conn, message_id, current, outcome.state, outcome.reason)
    if outcome.metadata:
        await conn.execute(
            "UPDATE messages SET metadata = metadata || %(m)s,"
            " control_id = (metadata || %(m)s) ->> 'hl7.control_id' WHERE id = %(id)s",
            {"m": Jsonb(dict(outcome.metadata)), "id": message_id},
        )
    pairs = list(dict.fromkeys(outcome.deliveries))
    now = utcnow()
    if scope is None:
        creates = [(s, d, r, outcome.order_keys.get(d)) for s, (d, r) in enumerate(pairs)]
    else:
        rows = await conn.execute(
            f"SELECT {schema.DELIVERY_COLUMNS} FROM deliveries WHERE message_id=%s"
            " ORDER BY seq, id FOR UPDATE",
            (message_id,),
        )
        existing = [schema.delivery_from_row(r) for r in await rows.fetchall()]
        plan = plan_reroute(existing, pairs, outcome.order_keys, scope)
        creates = plan.create
        for d, seq, route, key in plan.reset:
            await reset(conn, d, plan.reason, now, route=route, order_key=key, seq=seq)
        for d in plan.supersede:
            await conn.execute(
                "UPDATE deliveries SET state='dead', released=true, next_attempt_at=NULL,"
                " last_error=%s, updated_at=%s, claim_owner=NULL, claim_until=NULL WHERE id=%s",
                (SUPERSEDED, now, d.id),
            )
            await note(conn, d, DeliveryState.DEAD, SUPERSEDED, now)
    if creates:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO deliveries (id, message_id, destination, route, state, created_at,"
                " updated_at, order_key, seq) VALUES (%s,%s,%s,%s,'pending',%s,%s,%s,%s)"
                " ON CONFLICT (message_id, route, destination) DO NOTHING",
                [(new_id(), message_id, d, r, now, now, k, s) for s, d, r, k in creates],
            )
    await conn.execute(
        "UPDATE messages SET replay_scope=NULL, claim_owner=NULL, claim_until=NULL WHERE id=%s",
        (message_id,),
    )
    rows = await conn.execute(
        f"SELECT {schema.DELIVERY_COLUMNS} FROM deliveries WHERE message_id=%s"
        " AND state IN ('pending', 'retrying') ORDER BY seq, id",
        (message_id,),
    )
    return [schema.delivery_from_row(r) for r in await rows.fetchall()]


async def fail_message(conn: Conn, message_id: str, reason: str) -> None:
    (state,) = await _one(
        conn,
        "SELECT state FROM messages WHERE id=%s FOR UPDATE",
        (message_id,),
        f"no message {message_id}",
    )
    await transition(conn, message_id, MessageState(state), MessageState.ERROR, reason)
    await conn.execute(
        "UPDATE messages SET replay_scope=NULL, claim_owner=NULL, claim_until=NULL WHERE id=%s",
        (message_id,),
    )


async def claim_delivery(
    conn: Conn, delivery_id: str, owner: str, lease: float
) -> DeliveryRecord | None:
    destination, order_key = await _one(
        conn,
        "SELECT destination, order_key FROM deliveries WHERE id=%s",
        (delivery_id,),
        f"no delivery {delivery_id}",
    )
    if order_key is not None:  # serialise the claims of one (destination, key)
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"{destination}\n{order_key}",),
        )
    row = await _one(
        conn,
        f"SELECT {schema.DELIVERY_COLUMNS}, coalesce({LIVE}, false) FROM deliveries"
        " WHERE id=%s FOR UPDATE",
        (delivery_id,),
        f"no delivery {delivery_id}",
    )
    d, live = schema.delivery_from_row(row[:-1]), row[-1]
    if d.state.finished or (live and d.claim_owner != owner):
        return None
    if order_key is not None:  # only the head of its key may be claimed
        waits = await conn.execute(
            "SELECT 1 FROM deliveries WHERE destination=%s AND order_key=%s"
            f" AND (message_id, seq) < (%s, %s) AND {HOLDS_KEY} LIMIT 1",
            (destination, order_key, d.message_id, d.seq),
        )
        if await waits.fetchone() is not None:
            return None
    claimed = await _one(
        conn,
        "UPDATE deliveries SET claim_owner=%s,"
        " claim_until=clock_timestamp() + make_interval(secs => %s) WHERE id=%s"
        f" RETURNING {schema.DELIVERY_COLUMNS}",
        (owner, lease, delivery_id),
        f"no delivery {delivery_id}",
    )
    return schema.delivery_from_row(claimed)


async def record_attempt(
    conn: Conn,
    delivery_id: str,
    outcome: DeliveryState,
    detail: str,
    next_attempt_at: datetime | None,
    dedupe_key: str | None,
    release: bool,
) -> tuple[DeliveryRecord, int]:
    """Record the attempt; return the delivery and the attempt's number."""
    d = await locked_delivery(conn, delivery_id)
    now, number, sent = utcnow(), d.attempts + 1, outcome is DeliveryState.SENT
    row = await _one(
        conn,
        "UPDATE deliveries SET state=%s, attempts=%s, last_error=%s, next_attempt_at=%s,"
        " updated_at=%s, detail=%s, released=%s, claim_owner=NULL, claim_until=NULL"
        f" WHERE id=%s RETURNING {schema.DELIVERY_COLUMNS}",
        (
            outcome.value,
            number,
            d.last_error if sent else detail,
            next_attempt_at,
            now,
            detail if sent else d.detail,
            release and outcome is DeliveryState.DEAD,
            delivery_id,
        ),
        f"no delivery {delivery_id}",
    )
    await conn.execute(
        "INSERT INTO attempts (delivery_id, number, at, outcome, detail) VALUES (%s,%s,%s,%s,%s)",
        (delivery_id, number, now, outcome.value, detail),
    )
    if sent and dedupe_key:
        await conn.execute(
            "INSERT INTO dedupe (destination, key, delivery_id, at) VALUES (%s,%s,%s,%s)"
            " ON CONFLICT (destination, key)"
            " DO UPDATE SET delivery_id = excluded.delivery_id, at = excluded.at",
            (d.destination, dedupe_key, delivery_id, now),
        )
    return schema.delivery_from_row(row), number


async def note(
    conn: Conn, d: DeliveryRecord, outcome: DeliveryState, text: str, now: datetime
) -> None:
    """An operator or engine action in the attempt list (carries the current count)."""
    await conn.execute(
        "INSERT INTO attempts (delivery_id, number, at, outcome, detail) VALUES (%s,%s,%s,%s,%s)",
        (d.id, d.attempts, now, outcome.value, text),
    )


async def reset(
    conn: Conn,
    d: DeliveryRecord,
    reason: str,
    now: datetime,
    *,
    route: str,
    order_key: str | None,
    seq: int,
) -> None:
    """Back to ``pending``, due now, with a fresh retry budget, holding its key again."""
    await conn.execute(
        "UPDATE deliveries SET state='pending', next_attempt_at=NULL, released=false,"
        " attempts_at_replay=attempts, route=%s, order_key=%s, seq=%s, updated_at=%s,"
        " claim_owner=NULL, claim_until=NULL WHERE id=%s",
        (route, order_key, seq, now, d.id),
    )
    await note(conn, d, DeliveryState.PENDING, reason, now)


async def requeue_delivery(conn: Conn, delivery_id: str, reason: str) -> DeliveryRecord:
    d = await locked_delivery(conn, delivery_id)
    await reset(conn, d, reason, utcnow(), route=d.route, order_key=d.order_key, seq=d.seq)
    return await locked_delivery(conn, delivery_id)


async def release(conn: Conn, delivery_id: str, reason: str) -> DeliveryRecord:
    d = await locked_delivery(conn, delivery_id)
    if d.state is not DeliveryState.DEAD:
        raise StoreError(f"delivery {delivery_id} is {d.state.value}, not dead")
    now = utcnow()
    await conn.execute(
        "UPDATE deliveries SET released=true, updated_at=%s WHERE id=%s", (now, delivery_id)
    )
    await note(conn, d, DeliveryState.DEAD, reason, now)
    return await locked_delivery(conn, delivery_id)


async def request_replay(
    conn: Conn, message_id: str, destination: str | None, resend_sent: bool, reason: str
) -> ReplayResult:
    state_text, purged = await _one(
        conn,
        "SELECT state, purged_at FROM messages WHERE id=%s FOR UPDATE",
        (message_id,),
        f"no message {message_id}",
    )
    state = MessageState(state_text)
    result, scope = replay_scope(
        message_id, state, purged is not None, destination, resend_sent, reason
    )
    if scope is not None:
        await conn.execute(
            "UPDATE messages SET replay_scope=%s WHERE id=%s", (Jsonb(scope), message_id)
        )
        await transition(conn, message_id, state, MessageState.RECEIVED, scope["reason"])
    return result


__all__ = [
    "HOLDS_KEY",
    "LIVE",
    "SUPERSEDED",
    "claim_delivery",
    "fail_message",
    "finish_routing",
    "locked_delivery",
    "note",
    "record_attempt",
    "release",
    "request_replay",
    "requeue_delivery",
    "reset",
    "start_processing",
    "transition",
]
