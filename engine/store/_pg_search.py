"""Message search of the PostgreSQL store: every :class:`MessageQuery` criterion, ANDed.

Newest first by id (ULIDs sort by arrival), so ``before_id`` pages by keyset: each page is
an index range scan from the cursor, as cheap on page 1000 as on page 1. The patient key
is a semi-join on ``patient_keys`` (primary key (key, message_id)); the tenant scope is
``channel = ANY(...)``; route, destination and delivery state are one ``EXISTS`` on the
message's deliveries (the same delivery must match all three).
"""

from __future__ import annotations

from typing import Any

from engine.store import _pg_schema as schema
from engine.store._pg_ops import Conn
from engine.store.base import MessageQuery
from engine.store.crypto import PayloadCipher


def message_filter(q: MessageQuery) -> tuple[str, list[Any]]:
    """The WHERE clause (messages aliased ``m``) and its arguments."""
    clauses: list[str] = []
    args: list[Any] = []

    def add(clause: str, *values: Any) -> None:
        clauses.append(clause)
        args.extend(values)

    if q.channel:
        add("m.channel = %s", q.channel)
    if q.channels is not None:
        add("m.channel = ANY(%s::text[])", list(q.channels))
    if q.state:
        add("m.state = %s", q.state.value)
    if q.since:
        add("m.received_at >= %s", q.since)
    if q.until:
        add("m.received_at < %s", q.until)
    if q.control_id:
        add("m.control_id = %s", q.control_id)
    if q.before_id:
        add("m.id < %s", q.before_id)
    if q.patient_key is not None:
        add("m.id IN (SELECT p.message_id FROM patient_keys p WHERE p.key = %s)", q.patient_key)
    sub: list[str] = []
    if q.destination:
        sub.append("d.destination = %s")
        args.append(q.destination)
    if q.delivery_state:
        sub.append("d.state = %s")
        args.append(q.delivery_state.value)
    if q.route:
        sub.append("d.route = %s")
        args.append(q.route)
    if sub:
        clauses.append(
            f"EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND {' AND '.join(sub)})"
        )
    return ("WHERE " + " AND ".join(clauses) if clauses else "", args)


def search_sql(q: MessageQuery, newest_first: bool) -> tuple[str, list[Any]]:
    """The query of :func:`list_messages` (for EXPLAIN in tests and benchmarks)."""
    where, args = message_filter(q)
    columns = ", ".join("m." + c.strip() for c in schema.MESSAGE_COLUMNS.split(","))
    selected, order = (columns, "DESC") if newest_first else ("m.id", "")
    sql = f"SELECT {selected} FROM messages m {where} ORDER BY m.id {order} LIMIT %s"
    return sql, [*args, q.limit]


async def list_messages(
    conn: Conn, q: MessageQuery, newest_first: bool, cipher: PayloadCipher
) -> list[Any]:
    """Stored messages newest first, or ids oldest first."""
    if q.channels is not None and not q.channels:
        return []  # an empty tenant scope sees nothing
    sql, args = search_sql(q, newest_first)
    found = [tuple(r) for r in await (await conn.execute(sql, args)).fetchall()]
    if newest_first:
        return [schema.message_from_row(r, cipher) for r in found]
    return [r[0] for r in found]


__all__ = ["list_messages", "message_filter", "search_sql"]
