"""Message search for the SQLite store: :class:`~engine.store.base.MessageQuery` as SQL.

Every plan walks an index in id order and stops at ``limit`` (keyset paging with
``before_id``), so a page costs the same at 10⁶ messages as at 10³:

* ``patient_key``: the ``patient_keys`` primary key (key, message_id) drives, each hit
  looked up in ``messages`` by id;
* ``channel`` (with or without ``state``): ``messages_channel`` / ``messages_channel_state``;
  ``state`` alone: ``messages_state``; nothing: the primary key;
* ``channels`` (tenant scope) of several channels: one query per channel, each on its
  channel's index, merged here (SQLite cannot merge index ranges in order itself).

``route`` and the delivery criteria are checked per candidate message through the
deliveries' (message_id, route, destination) index; ``since``/``until`` bound the id
range too (ids are time-sortable ULIDs). A
criterion that few messages meet (a rare delivery state) therefore costs a walk over the
messages until the page is full: combine it with a channel or a ``since`` bound.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

from engine.store import _sqlite_schema as schema
from engine.store._semantics import id_bound, message_filter
from engine.store.base import MessageQuery

Row = tuple[Any, ...]
ID_MARGIN = timedelta(minutes=1)
"""How far a message id's time may be from its ``received_at``."""


def statement(q: MessageQuery, columns: str, *, newest_first: bool) -> tuple[str, list[object]]:
    """One SELECT of ``columns`` (of messages ``m``) for ``q``; ``q.channels`` is applied as
    a filter here (:func:`run` splits it per channel first)."""
    where, args = message_filter(replace(q, destination=None, delivery_state=None), "?", schema.ts)
    clauses = [where.removeprefix("WHERE ")] if where else []
    if q.destination or q.delivery_state:
        # "+" keeps the planner on the (message_id, route, destination) index: one probe
        # per candidate message, not a walk of the destination's deliveries
        sub = ["d.message_id = m.id"]
        if q.destination:
            sub.append("+d.destination = ?")
            args.append(q.destination)
        if q.delivery_state:
            sub.append("+d.state = ?")
            args.append(q.delivery_state.value)
        clauses.append(f"EXISTS (SELECT 1 FROM deliveries d WHERE {' AND '.join(sub)})")
    source, order = "messages m", "m.id"
    if q.patient_key is not None:
        source, order = "patient_keys p CROSS JOIN messages m", "p.message_id"
        clauses.insert(0, "p.key = ? AND m.id = p.message_id")
        args.insert(0, bytes(q.patient_key))
    if q.channels is not None:
        clauses.append(f"m.channel IN ({','.join('?' * len(q.channels))})")
        args.extend(q.channels)
    if q.route is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM deliveries r WHERE r.message_id = m.id AND r.route = ?)"
        )
        args.append(q.route)
    # ids are ULIDs made at receipt: a time window is also an id range the index can seek
    # (with a margin: the exact bound is the received_at filter above)
    if q.since is not None:
        clauses.append(f"{order} >= ?")
        args.append(id_bound(q.since - ID_MARGIN))
    if q.until is not None:
        clauses.append(f"{order} < ?")
        args.append(id_bound(q.until + ID_MARGIN))
    if q.before_id is not None:
        clauses.append(f"{order} < ?")
        args.append(q.before_id)
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    direction = "DESC" if newest_first else ""
    return f"SELECT {columns} FROM {source}{where} ORDER BY {order} {direction} LIMIT ?", args


def split(q: MessageQuery) -> list[MessageQuery] | None:
    """The queries that answer ``q``: one per channel of a multi-channel scope (none when
    the scope is empty), else ``q`` itself."""
    if q.channels is None:
        return [q]
    names = [c for c in dict.fromkeys(q.channels) if q.channel is None or c == q.channel]
    if not names:
        return []
    if q.patient_key is not None or len(names) == 1:
        return [replace(q, channels=tuple(names))]
    return [replace(q, channel=name, channels=None) for name in names]


def run(
    conn: sqlite3.Connection, q: MessageQuery, columns: str, *, newest_first: bool
) -> list[Row]:
    """Rows of ``columns`` (the message id first) for ``q``, in id order, at most
    ``q.limit``."""
    queries = split(q)
    if not queries:
        return []
    limit = -1 if q.limit is None else q.limit
    parts: list[list[Row]] = []
    for part in queries:
        sql, args = statement(part, columns, newest_first=newest_first)
        parts.append([tuple(r) for r in conn.execute(sql, (*args, limit))])
    if len(parts) == 1:
        return parts[0]
    key: Callable[[Row], str] = lambda r: str(r[0])  # noqa: E731
    merged: Iterator[Row] = heapq.merge(*parts, key=key, reverse=newest_first)
    rows = list(merged)
    return rows if q.limit is None else rows[: q.limit]


def plan(conn: sqlite3.Connection, q: MessageQuery, columns: str = "m.id") -> list[str]:
    """EXPLAIN QUERY PLAN details of the statements :func:`run` executes (for tests)."""
    details: list[str] = []
    for part in split(q) or []:
        sql, args = statement(part, columns, newest_first=True)
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", (*args, 50))
        details.extend(str(r[3]) for r in rows)
    return details


__all__ = ["plan", "run", "split", "statement"]
