"""Message search for the SQLite store: :class:`~engine.store.base.MessageQuery` as SQL.

Every plan walks an index in id order and stops at ``limit`` (keyset paging with
``before_id``), so a page costs the same at 10⁶ messages as at 10³:

* ``patient_key``: the ``patient_keys`` primary key (key, message_id) drives, each hit
  looked up in ``messages`` by id;
* ``delivery_state``: the deliveries in that state drive (``deliveries_state``, in
  message id order), each looked up in ``messages``;
* ``channel`` (with or without ``state``): ``messages_channel`` / ``messages_channel_state``;
  ``state`` alone: ``messages_state``; nothing: the primary key;
* ``channels`` (tenant scope) of several channels: one query per channel, each on its
  channel's index, merged here (SQLite cannot merge index ranges in order itself).

``route`` and ``destination`` (alone) are checked per candidate message through the
deliveries' (message_id, route, destination) index; ``since``/``until`` bound the id
range too (ids are time-sortable ULIDs). A
criterion that few messages meet (a rare route or destination) therefore costs a walk
over the messages until the page is full: combine it with a channel or a ``since`` bound.
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
    source, order, group = "messages m", "m.id", ""
    head: list[str] = []
    head_args: list[object] = []
    if q.patient_key is not None:
        source, order = "patient_keys p CROSS JOIN messages m", "p.message_id"
        head.append("p.key = ? AND m.id = p.message_id")
        head_args.append(bytes(q.patient_key))
    elif q.delivery_state is not None:
        # the deliveries in that state drive, in message order (deliveries_state); one row
        # per message however many of its deliveries match
        source, order = "deliveries d CROSS JOIN messages m", "d.message_id"
        group = " GROUP BY d.message_id"
        head.append("d.state = ? AND m.id = d.message_id")
        head_args.append(q.delivery_state.value)
        if q.destination:
            head.append("+d.destination = ?")
            head_args.append(q.destination)
    if (q.destination or q.delivery_state) and not group:
        # "+" keeps the planner on the (message_id, route, destination) index: one probe
        # per candidate message, not a walk of the destination's deliveries
        sub = ["x.message_id = m.id"]
        if q.destination:
            sub.append("+x.destination = ?")
            args.append(q.destination)
        if q.delivery_state:
            sub.append("+x.state = ?")
            args.append(q.delivery_state.value)
        clauses.append(f"EXISTS (SELECT 1 FROM deliveries x WHERE {' AND '.join(sub)})")
    clauses[:0] = head
    args[:0] = head_args
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
    sql = f"SELECT {columns} FROM {source}{where}{group} ORDER BY {order} {direction} LIMIT ?"
    return sql, args


def split(q: MessageQuery) -> list[MessageQuery]:
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
    for part in split(q):
        sql, args = statement(part, columns, newest_first=True)
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", (*args, 50))
        details.extend(str(r[3]) for r in rows)
    return details


__all__ = ["plan", "run", "split", "statement"]
