"""Overview figures of the SQLite store: counter-backed summaries and activity buckets.

Counts come from ``channel_counts``/``destination_counts``/``route_counts``, kept by
triggers in the writing transaction (schema version 7); every other figure is one index
seek per channel or destination (``ORDER BY id LIMIT 1`` on ``messages_channel_state``,
``min(created_at)`` on ``deliveries_destination``) or a row of ``destination_facts``,
which :func:`note_attempt` updates beside each attempt. Nothing here scans messages.
:func:`activity` reads only the window: messages by id range (ids are time-sortable),
attempts through ``attempts_at``.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from engine.message import DeliveryState, MessageState
from engine.store import _sqlite_schema as schema
from engine.store._semantics import id_bound
from engine.store._sqlite_search import ID_MARGIN
from engine.store.console import ActivityBucket, ChannelSummary, DestinationSummary


def _counts(conn: sqlite3.Connection, table: str, key: str) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for name, state, n in conn.execute(
        f"SELECT {key}, state, n FROM {table} WHERE n > 0 ORDER BY {key}, state"
    ):
        counts.setdefault(str(name), {})[str(state)] = int(n)
    return counts


def _row(conn: sqlite3.Connection, sql: str, *args: object) -> tuple[Any, ...] | None:
    row = conn.execute(sql, args).fetchone()
    return tuple(row) if row is not None else None


def _at(value: Any) -> datetime | None:
    return schema.dt(float(value)) if value is not None else None


_NEWEST = "SELECT received_at FROM messages WHERE channel=? ORDER BY id DESC LIMIT 1"
_OLDEST_IN = "SELECT received_at FROM messages WHERE channel=? AND state=? ORDER BY id LIMIT 1"
_LAST_IN = (
    "SELECT id, reason, updated_at FROM messages WHERE channel=? AND state=?"
    " ORDER BY id DESC LIMIT 1"
)
_OLDEST_DELIVERY = "SELECT min(created_at) FROM deliveries WHERE destination=? AND state=?"


def channel_summaries(conn: sqlite3.Connection) -> list[ChannelSummary]:
    out = []
    for channel, counts in _counts(conn, "channel_counts", "channel").items():
        newest = _row(conn, _NEWEST, channel)
        waiting: list[float] = []
        last: tuple[Any, ...] | None = None
        for state in counts:
            if state in ("received", "processing"):
                row = _row(conn, _OLDEST_IN, channel, state)
                waiting += [float(row[0])] if row else []
            elif state in ("error", "rejected"):
                row = _row(conn, _LAST_IN, channel, state)
                if row and (last is None or str(row[0]) > str(last[0])):
                    last = row
        out.append(
            ChannelSummary(
                channel=channel,
                counts={MessageState(s): n for s, n in counts.items()},
                last_received_at=_at(newest[0]) if newest else None,
                oldest_waiting_at=_at(min(waiting)) if waiting else None,
                last_error=str(last[1]) if last else "",
                last_error_at=_at(last[2]) if last else None,
            )
        )
    return out


def destination_summaries(conn: sqlite3.Connection) -> list[DestinationSummary]:
    facts = {
        str(r[0]): tuple(r[1:])
        for r in conn.execute(
            "SELECT destination, last_error, last_error_at, last_sent_at FROM destination_facts"
        )
    }
    out = []
    for destination, counts in _counts(conn, "destination_counts", "destination").items():
        waiting: list[float] = []
        for state in set(counts) & {"pending", "retrying"}:
            row = _row(conn, _OLDEST_DELIVERY, destination, state)
            waiting += [float(row[0])] if row and row[0] is not None else []
        error, error_at, sent_at = facts.get(destination, ("", None, None))
        out.append(
            DestinationSummary(
                destination=destination,
                counts={DeliveryState(s): n for s, n in counts.items()},
                oldest_waiting_at=_at(min(waiting)) if waiting else None,
                last_error=str(error or ""),
                last_error_at=_at(error_at),
                last_sent_at=_at(sent_at),
            )
        )
    return out


def route_counts(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute("SELECT route, n FROM route_counts WHERE n > 0 ORDER BY route")
    return {str(route): int(n) for route, n in rows}


def count_by_state(conn: sqlite3.Connection) -> dict[MessageState, int]:
    rows = conn.execute("SELECT state, sum(n) FROM channel_counts GROUP BY state HAVING sum(n) > 0")
    return {MessageState(s): int(n) for s, n in rows}


def delivery_counts(conn: sqlite3.Connection) -> dict[str, dict[DeliveryState, int]]:
    return {
        name: {DeliveryState(s): n for s, n in counts.items()}
        for name, counts in _counts(conn, "destination_counts", "destination").items()
    }


def note_attempt(
    conn: sqlite3.Connection, destination: str, outcome: DeliveryState, detail: str, at: float
) -> None:
    """Remember a destination's newest sent or failed attempt (writer thread)."""
    if outcome is DeliveryState.SENT:
        conn.execute(
            "INSERT INTO destination_facts (destination, last_sent_at) VALUES (?, ?)"
            " ON CONFLICT (destination) DO UPDATE SET last_sent_at = excluded.last_sent_at",
            (destination, at),
        )
    elif outcome in (DeliveryState.RETRYING, DeliveryState.DEAD):
        conn.execute(
            "INSERT INTO destination_facts (destination, last_error, last_error_at)"
            " VALUES (?, ?, ?) ON CONFLICT (destination) DO UPDATE SET"
            " last_error = excluded.last_error, last_error_at = excluded.last_error_at",
            (destination, detail, at),
        )


_CHANNEL_ACTIVITY = """
SELECT channel, CAST(received_at / :b AS INTEGER) AS k,
       sum(state NOT IN ('error', 'rejected')),
       sum(state IN ('error', 'rejected')),
       total(CASE WHEN state IN ('routed', 'filtered', 'unmatched')
                  THEN max(updated_at - received_at, 0) END)
FROM messages WHERE id >= :first AND received_at >= :since
GROUP BY 1, 2
"""
# a note (release, superseded) repeats the number of the attempt before it: not a failure
_DESTINATION_ACTIVITY = """
SELECT d.destination, CAST(a.at / :b AS INTEGER) AS k,
       sum(a.outcome = 'sent'),
       sum(a.outcome = 'retrying' OR (a.outcome = 'dead' AND a.number > 0 AND NOT EXISTS (
           SELECT 1 FROM attempts x WHERE x.delivery_id = a.delivery_id
           AND x.number = a.number AND x.seq < a.seq))),
       total(CASE WHEN a.outcome = 'sent' THEN max(a.at - m.received_at, 0) END)
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id JOIN messages m ON m.id = d.message_id
WHERE a.at >= :since AND a.outcome IN ('sent', 'retrying', 'dead')
GROUP BY 1, 2
"""


def activity(conn: sqlite3.Connection, since: datetime, bucket: int) -> list[ActivityBucket]:
    """See :meth:`ConsoleStore.activity`. Channel ``ok``: messages received that are not
    rejected nor in error (``latency_sum``: receipt to the end of routing, for the routed,
    filtered and unmatched ones); ``failed``: rejected or in error."""
    args = {"b": bucket, "since": schema.ts(since), "first": id_bound(since - ID_MARGIN)}
    out: list[ActivityBucket] = []
    for kind, sql in (("channel", _CHANNEL_ACTIVITY), ("destination", _DESTINATION_ACTIVITY)):
        for name, k, ok, failed, latency in conn.execute(sql, args):
            if ok or failed:
                start = schema.dt(float(int(k) * bucket))
                out.append(ActivityBucket(kind, str(name), start, int(ok), int(failed), latency))
    out.sort(key=lambda b: (b.start, b.kind, b.name))
    return out


__all__ = [
    "activity",
    "channel_summaries",
    "count_by_state",
    "delivery_counts",
    "destination_summaries",
    "note_attempt",
    "route_counts",
]
