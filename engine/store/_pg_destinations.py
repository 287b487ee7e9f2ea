"""Destination-side operations on PostgreSQL: circuit state per destination, probes,
delivery counts: the counterpart of the SQLite store's ``_sqlite_destinations`` (branch
``outage``, issue 14 item 5).

Status records are taken and returned as any object with the fields of
``DestinationStatus`` (destination, state, failures, opened_at, next_probe_at,
last_error, opens, updated_at); ``make`` builds them. When ``Store`` gains
``record_probe``, ``save_destination_status``, ``destination_statuses`` and
``delivery_counts``, :class:`~engine.store.postgres.PostgresStore` implements each with
one call to the function of the same meaning here (the ``destination_status`` table is
created by schema version 4).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from engine.message import DeliveryState, utcnow
from engine.store import _pg_schema as schema
from engine.store._pg_ops import Conn, locked_delivery, note
from engine.store.base import DeliveryRecord

T = TypeVar("T")
COLUMNS = "destination, state, failures, opened_at, next_probe_at, last_error, opens, updated_at"


async def save_status(conn: Conn, status: Any) -> None:
    """Record a destination's circuit state (one row per destination, replaced)."""
    await conn.execute(
        f"INSERT INTO destination_status ({COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
        " ON CONFLICT (destination) DO UPDATE SET state = excluded.state,"
        " failures = excluded.failures, opened_at = excluded.opened_at,"
        " next_probe_at = excluded.next_probe_at, last_error = excluded.last_error,"
        " opens = excluded.opens, updated_at = excluded.updated_at",
        (
            status.destination,
            status.state,
            status.failures,
            status.opened_at,
            status.next_probe_at,
            status.last_error,
            status.opens,
            utcnow(),
        ),
    )


async def statuses(conn: Conn, make: Callable[..., T]) -> list[T]:
    """Every recorded status, by destination name."""
    cursor = await conn.execute(f"SELECT {COLUMNS} FROM destination_status ORDER BY destination")
    names = [c.strip() for c in COLUMNS.split(",")]
    return [make(**dict(zip(names, row, strict=True))) for row in await cursor.fetchall()]


async def record_probe(
    conn: Conn, delivery_id: str, detail: str, next_attempt_at: datetime
) -> DeliveryRecord:
    """A failed circuit-breaker probe: ``retrying`` until ``next_attempt_at`` with
    ``detail`` as last error, listed with the attempts, the attempt count unchanged."""
    d = await locked_delivery(conn, delivery_id)
    now = utcnow()
    cursor = await conn.execute(
        "UPDATE deliveries SET state='retrying', last_error=%s, next_attempt_at=%s,"
        f" updated_at=%s WHERE id=%s RETURNING {schema.DELIVERY_COLUMNS}",
        (detail, next_attempt_at, now, delivery_id),
    )
    row = await cursor.fetchone()
    await note(conn, d, DeliveryState.RETRYING, detail, now)
    assert row is not None  # locked above
    return schema.delivery_from_row(row)


async def delivery_counts(conn: Conn) -> dict[str, dict[DeliveryState, int]]:
    """Number of deliveries per destination and state."""
    cursor = await conn.execute(
        "SELECT destination, state, count(*) FROM deliveries GROUP BY destination, state"
    )
    counts: dict[str, dict[DeliveryState, int]] = {}
    for destination, state, n in await cursor.fetchall():
        counts.setdefault(destination, {})[DeliveryState(state)] = int(n)
    return counts


__all__ = ["COLUMNS", "delivery_counts", "record_probe", "save_status", "statuses"]
