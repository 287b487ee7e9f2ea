"""Payload operations of the SQLite store: attempt payloads, key rotation, retention.

Payloads (the raw message, what an attempt sent, the peer's answer) are the only place
patient data lives; they are sealed by the store's :class:`~engine.store.crypto.PayloadCipher`
and are what retention removes. Write operations run in the group-commit writer thread.
"""

from __future__ import annotations

import sqlite3

from engine.store.base import AttemptPayload
from engine.store.crypto import PayloadCipher, open_attempt, seal_attempt


def save_attempt_payload(
    conn: sqlite3.Connection,
    cipher: PayloadCipher,
    delivery_id: str,
    number: int,
    sent: bytes | None,
    response: bytes | None,
) -> None:
    if sent is None and response is None:
        return
    sealed, key_id = seal_attempt(cipher, delivery_id, number, sent, response)
    conn.execute(
        "INSERT OR REPLACE INTO attempt_payloads (delivery_id, number, sent, response, key_id)"
        " VALUES (?,?,?,?,?)",
        (delivery_id, number, *sealed, key_id),
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


__all__ = ["attempt_payloads", "rotate_batch", "save_attempt_payload"]
