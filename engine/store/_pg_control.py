"""Operator controls, alert states, named leases, node heartbeats, the patient index and
the attempt-payload budget in PostgreSQL.

A lease is one row per name, taken or renewed by a single ``INSERT … ON CONFLICT DO
UPDATE … WHERE`` that PostgreSQL runs atomically against concurrent callers: the row is
changed only when it is the caller's or has expired (on the server's clock, the one every
node shares), so two nodes never both hold it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from engine.store._pg_ops import Conn
from engine.store.console import AlertState, Control, NodeStatus

_CONTROL = "kind, name, paused, by, at, reason"
_ALERT = "fingerprint, firing, since, notified_at, resolved_at, detail"
_NODE = "node, pid, started_at, heartbeat_at, channels"


async def _all(conn: Conn, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await (await conn.execute(sql, args)).fetchall()]


async def add_patient_keys(conn: Conn, message_id: str, keys: Sequence[bytes]) -> None:
    if keys:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO patient_keys (key, message_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [(bytes(k), message_id) for k in dict.fromkeys(keys)],
            )


async def set_control(conn: Conn, c: Control) -> None:
    await conn.execute(
        f"INSERT INTO controls ({_CONTROL}) VALUES (%s,%s,%s,%s,%s,%s)"
        " ON CONFLICT (kind, name) DO UPDATE SET paused = excluded.paused, by = excluded.by,"
        " at = excluded.at, reason = excluded.reason",
        (c.kind, c.name, c.paused, c.by, c.at, c.reason),
    )


async def controls(conn: Conn) -> list[Control]:
    return [Control(*r) for r in await _all(conn, f"SELECT {_CONTROL} FROM controls ORDER BY 1, 2")]


async def save_alert_state(conn: Conn, s: AlertState) -> None:
    await conn.execute(
        f"INSERT INTO alert_states ({_ALERT}) VALUES (%s,%s,%s,%s,%s,%s)"
        " ON CONFLICT (fingerprint) DO UPDATE SET firing = excluded.firing,"
        " since = excluded.since, notified_at = excluded.notified_at,"
        " resolved_at = excluded.resolved_at, detail = excluded.detail",
        (s.fingerprint, s.firing, s.since, s.notified_at, s.resolved_at, s.detail),
    )


async def alert_states(conn: Conn) -> list[AlertState]:
    found = await _all(conn, f"SELECT {_ALERT} FROM alert_states ORDER BY fingerprint")
    return [AlertState(*r) for r in found]


async def acquire_lease(conn: Conn, name: str, owner: str, seconds: float) -> bool:
    found = await _all(
        conn,
        "INSERT INTO leases (name, owner, until)"
        " VALUES (%(n)s, %(o)s, clock_timestamp() + make_interval(secs => %(s)s))"
        " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until"
        " WHERE leases.owner = excluded.owner OR leases.until <= clock_timestamp()"
        " RETURNING owner",
        {"n": name, "o": owner, "s": seconds},
    )
    return bool(found)


async def save_node_status(conn: Conn, s: NodeStatus) -> None:
    await conn.execute(
        f"INSERT INTO node_statuses ({_NODE}) VALUES (%s,%s,%s,%s,%s)"
        " ON CONFLICT (node) DO UPDATE SET pid = excluded.pid,"
        " started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,"
        " channels = excluded.channels",
        (s.node, s.pid, s.started_at, s.heartbeat_at, Jsonb(dict(s.channels))),
    )


async def node_statuses(conn: Conn) -> list[NodeStatus]:
    found = await _all(conn, f"SELECT {_NODE} FROM node_statuses ORDER BY node")
    return [NodeStatus(n, pid, started, beat, dict(ch)) for n, pid, started, beat, ch in found]


async def purge_attempt_payloads(
    conn: Conn, before: datetime | None, max_bytes: int | None, total: int, limit: int
) -> int:
    """Oldest first (index on ``at``): remove payloads older than ``before``, then while
    ``total`` (the current usage) exceeds ``max_bytes``; at most ``limit``, in one
    transaction."""
    excess = max(total - max_bytes, 0) if max_bytes is not None else 0
    if before is None and excess == 0:
        return 0
    found = await _all(
        conn,
        "SELECT delivery_id, number, size, at FROM attempt_payloads ORDER BY at, delivery_id,"
        " number LIMIT %s FOR UPDATE SKIP LOCKED",
        (limit,),
    )
    chosen: list[tuple[str, int]] = []
    freed = 0
    for delivery_id, number, size, at in found:
        if (before is not None and at < before) or freed < excess:
            chosen.append((delivery_id, number))
            freed += int(size)
        else:
            break
    if chosen:
        await conn.execute(
            "DELETE FROM attempt_payloads WHERE (delivery_id, number) IN"
            " (SELECT * FROM unnest(%s::text[], %s::int[]))",
            ([d for d, _ in chosen], [n for _, n in chosen]),
        )
    return len(chosen)


__all__ = [
    "acquire_lease",
    "add_patient_keys",
    "alert_states",
    "controls",
    "node_statuses",
    "purge_attempt_payloads",
    "save_alert_state",
    "save_node_status",
    "set_control",
]
