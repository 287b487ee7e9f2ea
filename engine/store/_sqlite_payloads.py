"""Payload operations of the SQLite store: attempt payloads, key rotation, retention.

Payloads (the raw message, what an attempt sent, the peer's answer) are the only place
patient data lives; they are sealed by the store's :class:`~engine.store.crypto.PayloadCipher`
and are what retention removes. Write operations run in the group-commit writer thread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from datetime import datetime

from engine.store import _sqlite_schema as schema
from engine.store._semantics import purge_filter
from engine.store.base import AttemptPayload
from engine.store.crypto import PayloadCipher, open_attempt, seal_attempt


def save_attempt_payload(
    conn: sqlite3.Connection,
    cipher: PayloadCipher,
    delivery_id: str,
    number: int,
    sent: bytes | None,
    response: bytes | None,
    at: float | None = None,
) -> None:
    """Keep what attempt ``number`` sent and received (an upsert, so the usage triggers
    see a replaced payload as an update)."""
    if sent is None and response is None:
        return
    sealed, key_id = seal_attempt(cipher, delivery_id, number, sent, response)
    conn.execute(
        "INSERT INTO attempt_payloads (delivery_id, number, sent, response, key_id, at)"
        " VALUES (?,?,?,?,?,?) ON CONFLICT (delivery_id, number) DO UPDATE SET"
        " sent = excluded.sent, response = excluded.response, key_id = excluded.key_id,"
        " at = excluded.at",
        (delivery_id, number, *sealed, key_id, time.time() if at is None else at),
    )


def attempt_payloads(
    conn: sqlite3.Connection, cipher: PayloadCipher, delivery_id: str
) -> list[AttemptPayload]:
    rows = conn.execute(
        "SELECT delivery_id, number, sent, response, key_id FROM attempt_payloads"
        " WHERE delivery_id=? ORDER BY number",
        (delivery_id,),
    ).fetchall()
    return [open_attempt(tuple(r), cipher) for r in rows]


def rotate_batch(conn: sqlite3.Connection, cipher: PayloadCipher, batch: int) -> int:
    """Re-seal up to ``batch`` messages and ``batch`` attempt payloads not under the
    current key; return how many were rewritten."""
    current = cipher.current
    done = 0
    messages = conn.execute(
        "SELECT id, raw, key_id FROM messages WHERE key_id IS NOT ? AND purged_at IS NULL LIMIT ?",
        (current, batch),
    ).fetchall()
    for message_id, raw, key_id in messages:
        context = f"message {message_id}"
        sealed, new_key = cipher.seal(cipher.open(bytes(raw), key_id, context), context)
        conn.execute(
            "UPDATE messages SET raw=?, key_id=? WHERE id=?", (sealed, new_key, message_id)
        )
        done += 1
    payloads = conn.execute(
        "SELECT delivery_id, number, sent, response, key_id FROM attempt_payloads"
        " WHERE key_id IS NOT ? LIMIT ?",
        (current, batch),
    ).fetchall()
    for row in payloads:
        p = open_attempt(tuple(row), cipher)
        sealed_pair, new_key = seal_attempt(cipher, p.delivery_id, p.number, p.sent, p.response)
        conn.execute(
            "UPDATE attempt_payloads SET sent=?, response=?, key_id=?"
            " WHERE delivery_id=? AND number=?",
            (*sealed_pair, new_key, p.delivery_id, p.number),
        )
        done += 1
    return done


def purge_batch(
    conn: sqlite3.Connection,
    before: datetime,
    channel: str | None,
    exclude: Sequence[str],
    limit: int,
) -> int:
    """See :meth:`Store.purge_payloads` (the vacuum is a separate step)."""
    where, args = purge_filter(before, channel, exclude, "?")
    ids = [
        str(r[0])
        for r in conn.execute(
            f"SELECT m.id FROM messages m WHERE {where} ORDER BY m.id LIMIT ?", (*args, limit)
        )
    ]
    now = time.time()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        conn.execute(
            f"UPDATE messages SET raw=x'', key_id=NULL, purged_at=? WHERE id IN ({marks})",
            (now, *chunk),
        )
        conn.execute(
            "DELETE FROM attempt_payloads WHERE delivery_id IN"
            f" (SELECT id FROM deliveries WHERE message_id IN ({marks}))",
            chunk,
        )
    return len(ids)


def attempt_payload_usage(conn: sqlite3.Connection) -> tuple[int, datetime | None]:
    """Bytes of attempt payloads (a counter kept by triggers) and the oldest one's time."""
    (used,) = conn.execute("SELECT bytes FROM payload_usage WHERE name = 'attempts'").fetchone()
    (oldest,) = conn.execute("SELECT min(at) FROM attempt_payloads").fetchone()
    return int(used), schema.dt(float(oldest)) if oldest is not None else None


def purge_attempt_batch(
    conn: sqlite3.Connection, before: datetime | None, max_bytes: int | None, limit: int
) -> int:
    """See :meth:`ConsoleStore.purge_attempt_payloads`: the payload rows go (oldest first,
    through ``attempt_payloads_at``), the attempts stay. The vacuum is a separate step."""
    removed = 0
    if before is not None:
        removed = conn.execute(
            "DELETE FROM attempt_payloads WHERE rowid IN (SELECT rowid FROM attempt_payloads"
            " WHERE at < ? ORDER BY at LIMIT ?)",
            (schema.ts(before), limit),
        ).rowcount
    if max_bytes is None:
        return removed
    (used,) = conn.execute("SELECT bytes FROM payload_usage WHERE name = 'attempts'").fetchone()
    while used > max_bytes and removed < limit:
        rows = conn.execute(
            "SELECT rowid, coalesce(length(sent), 0) + coalesce(length(response), 0)"
            " FROM attempt_payloads ORDER BY at LIMIT ?",
            (min(100, limit - removed),),
        ).fetchall()
        if not rows:
            break
        victims = []
        for rowid, size in rows:
            if used <= max_bytes:
                break
            victims.append(rowid)
            used -= int(size)
        marks = ",".join("?" * len(victims))
        conn.execute(f"DELETE FROM attempt_payloads WHERE rowid IN ({marks})", victims)
        removed += len(victims)
    return removed


def vacuum(conn: sqlite3.Connection, most: int = 20_000) -> int:
    """Give up to ``most`` free pages back to the file system (stores made with
    incremental auto-vacuum; a no-op on older ones); return how many.

    Inside a transaction Python's ``execute`` steps the pragma once, and each step frees
    one page, hence the loop (``executescript`` would commit the writer's batch)."""
    (mode,) = conn.execute("PRAGMA auto_vacuum").fetchone()
    if mode != 2:
        return 0
    (free,) = conn.execute("PRAGMA freelist_count").fetchone()
    for _ in range(min(int(free), most)):
        conn.execute("PRAGMA incremental_vacuum(1)")
    return min(int(free), most)


__all__ = [
    "attempt_payload_usage",
    "attempt_payloads",
    "purge_attempt_batch",
    "purge_batch",
    "rotate_batch",
    "save_attempt_payload",
    "vacuum",
]
