"""Destination-side operations of the SQLite store: circuit state, probes, counts.

The ``destination_status`` table holds one row per destination (its circuit breaker as
last recorded, see :mod:`engine.circuit`); it is created by :func:`ensure_schema` when the
store opens (``CREATE TABLE IF NOT EXISTS``: it needs no schema version of its own).
Write operations run in the group-commit writer thread; reads on a reader connection.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime

from engine.message import DeliveryState
from engine.store import _sqlite_ops as ops
from engine.store import _sqlite_overview as overview
from engine.store import _sqlite_schema as schema
from engine.store.base import DeliveryRecord, DestinationStatus

DDL = """
CREATE TABLE IF NOT EXISTS destination_status (
    destination    TEXT PRIMARY KEY,
    state          TEXT NOT NULL,
    failures       INTEGER NOT NULL DEFAULT 0,
    opened_at      REAL,
    next_probe_at  REAL,
    last_error     TEXT NOT NULL DEFAULT '',
    opens          INTEGER NOT NULL DEFAULT 0,
    updated_at     REAL NOT NULL
)
"""
_COLUMNS = "destination, state, failures, opened_at, next_probe_at, last_error, opens, updated_at"


def ensure_schema(conn: sqlite3.Connection) -> None:
    conn.execute(DDL)


def _ts(value: datetime | None) -> float | None:
    return schema.ts(value) if value is not None else None


def _dt(value: float | None) -> datetime | None:
    return schema.dt(value) if value is not None else None


def save_status(conn: sqlite3.Connection, status: DestinationStatus) -> None:
    conn.execute(
        f"INSERT OR REPLACE INTO destination_status ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
        (
            status.destination,
            status.state,
            status.failures,
            _ts(status.opened_at),
            _ts(status.next_probe_at),
            status.last_error,
            status.opens,
            time.time(),
        ),
    )


def statuses(conn: sqlite3.Connection) -> list[DestinationStatus]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM destination_status ORDER BY destination")
    return [
        DestinationStatus(
            destination=str(name),
            state=str(state),
            failures=int(failures),
            opened_at=_dt(opened),
            next_probe_at=_dt(probe),
            last_error=str(error),
            opens=int(opens),
            updated_at=_dt(updated),
        )
        for name, state, failures, opened, probe, error, opens, updated in rows
    ]


def record_probe(
    conn: sqlite3.Connection, delivery_id: str, detail: str, next_attempt_at: datetime
) -> DeliveryRecord:
    """See :meth:`Store.record_probe`: retrying until ``next_attempt_at``, attempts kept."""
    d = ops.delivery(conn, delivery_id)
    now = time.time()
    conn.execute(
        "UPDATE deliveries SET state='retrying', last_error=?, next_attempt_at=?, updated_at=?"
        " WHERE id=?",
        (detail, schema.ts(next_attempt_at), now, delivery_id),
    )
    ops.note(conn, d, DeliveryState.RETRYING, detail, now)
    overview.note_attempt(conn, d.destination, DeliveryState.RETRYING, detail, now)
    return ops.delivery(conn, delivery_id)


def delivery_counts(conn: sqlite3.Connection) -> dict[str, dict[DeliveryState, int]]:
    """Deliveries per destination and state, from the counters (no scan)."""
    return overview.delivery_counts(conn)


__all__ = ["DDL", "delivery_counts", "ensure_schema", "record_probe", "save_status", "statuses"]
