"""Payload operations of the PostgreSQL store: attempt payloads, key rotation, retention.

The counterpart of :mod:`engine.store._sqlite_payloads`; the sealing itself is shared
(:mod:`engine.store.crypto`). Rotation locks the rows it rewrites (``FOR UPDATE``), so
it can run while nodes deliver.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from engine.store._pg_ops import Conn
from engine.store._semantics import purge_filter
from engine.store.base import AttemptPayload
from engine.store.crypto import PayloadCipher, open_attempt, seal_attempt

_PAYLOAD_COLUMNS = "delivery_id, number, sent, response, key_id"


async def save_attempt_payload(
    conn: Conn,
    cipher: PayloadCipher,
    delivery_id: str,
    number: int,
    sent: bytes | None,
    response: bytes | None,
) -> None:
    if sent is None and response is None:
        return
    sealed, key_id = seal_attempt(cipher, delivery_id, number, sent, response)
    await conn.execute(
        f"INSERT INTO attempt_payloads ({_PAYLOAD_COLUMNS}) VALUES (%s,%s,%s,%s,%s)"
        " ON CONFLICT (delivery_id, number) DO UPDATE SET sent = excluded.sent,"
        " response = excluded.response, key_id = excluded.key_id",
        (delivery_id, number, *sealed, key_id),
    )


async def attempt_payloads(
    conn: Conn, cipher: PayloadCipher, delivery_id: str
) -> list[AttemptPayload]:
    cursor = await conn.execute(
        f"SELECT {_PAYLOAD_COLUMNS} FROM attempt_payloads WHERE delivery_id=%s ORDER BY number",
        (delivery_id,),
    )
    return [open_attempt(tuple(r), cipher) for r in await cursor.fetchall()]


async def rotate_batch(conn: Conn, cipher: PayloadCipher, batch: int) -> int:
    """Re-seal up to ``batch`` messages and attempt payloads not under the current key."""
    current = cipher.current
    done = 0
    messages = await conn.execute(
        "SELECT id, raw, key_id FROM messages WHERE key_id IS DISTINCT FROM %s"
        " AND purged_at IS NULL LIMIT %s FOR UPDATE",
        (current, batch),
    )
    for message_id, raw, key_id in await messages.fetchall():
        context = f"message {message_id}"
        sealed, new_key = cipher.seal(cipher.open(bytes(raw), key_id, context), context)
        await conn.execute(
            "UPDATE messages SET raw=%s, key_id=%s WHERE id=%s", (sealed, new_key, message_id)
        )
        done += 1
    payloads = await conn.execute(
        f"SELECT {_PAYLOAD_COLUMNS} FROM attempt_payloads WHERE key_id IS DISTINCT FROM %s"
        " LIMIT %s FOR UPDATE",
        (current, batch),
    )
    for row in await payloads.fetchall():
        p = open_attempt(tuple(row), cipher)
        sealed_pair, new_key = seal_attempt(cipher, p.delivery_id, p.number, p.sent, p.response)
        await conn.execute(
            "UPDATE attempt_payloads SET sent=%s, response=%s, key_id=%s"
            " WHERE delivery_id=%s AND number=%s",
            (*sealed_pair, new_key, p.delivery_id, p.number),
        )
        done += 1
    return done


async def purge_batch(
    conn: Conn, before: datetime, channel: str | None, exclude: Sequence[str], limit: int
) -> int:
    """See :meth:`Store.purge_payloads`. Freed rows are reused after autovacuum."""
    where, args = purge_filter(before, channel, exclude, "%s")
    cursor = await conn.execute(
        "UPDATE messages SET raw='', key_id=NULL, purged_at=now() WHERE id IN"
        f" (SELECT m.id FROM messages m WHERE {where} ORDER BY m.id LIMIT %s"
        " FOR UPDATE SKIP LOCKED) RETURNING id",
        (*args, limit),
    )
    ids = [r[0] for r in await cursor.fetchall()]
    if ids:
        await conn.execute(
            "DELETE FROM attempt_payloads WHERE delivery_id IN"
            " (SELECT id FROM deliveries WHERE message_id = ANY(%s))",
            (ids,),
        )
    return len(ids)


__all__ = ["attempt_payloads", "purge_batch", "rotate_batch", "save_attempt_payload"]
