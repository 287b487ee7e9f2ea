"""Overview figures of the PostgreSQL store, from the counters of schema version 5.

Writers only insert into ``console_deltas`` (triggers, see
:mod:`engine.store._pg_console_schema`); :func:`fold` moves them into the counter tables.
Every read below adds the deltas not folded yet in the same statement, so it is exact
without a fold and costs the number of channels/destinations (index seeks), never the
size of ``messages``. Activity is kept per 1-minute slot; a bucket that is a multiple of
the slot sums whole slots, any other reads the window's rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from engine.message import DeliveryState, MessageState
from engine.store._pg_console_schema import FAILED, RAW_CHANNEL, RAW_DESTINATION, SLOT
from engine.store._pg_ops import Conn
from engine.store._semantics import id_bound
from engine.store.console import ActivityBucket, ChannelSummary, DestinationSummary

FOLD_LOCK = 0x70A55E11F
"""Advisory lock key: one folder at a time (the others skip)."""
FOLD_BATCH = 200_000
ACTIVITY_DAYS = 31
"""Activity slots older than this are dropped when folding."""

SLOT_SECONDS = 60

# per delta row: counter rows it changes (kind, name, state, n)
_COUNTED = (
    "SELECT kind, name, to_state AS state, n FROM {src} WHERE kind <> 'a' AND to_state IS NOT NULL"
    " UNION ALL SELECT kind, name, from_state, -n FROM {src}"
    " WHERE kind <> 'a' AND from_state IS NOT NULL"
    " UNION ALL SELECT 'r', route, '', n FROM {src} WHERE route IS NOT NULL AND from_state IS NULL"
    " UNION ALL SELECT 'r', route, '', -n FROM {src} WHERE route IS NOT NULL AND to_state IS NULL"
)
# per delta row: activity (at, kind, name, ok, failed, latency); a channel's message is
# ``ok`` while not failed, ``failed`` while rejected or in error
_ACTIVE = (
    "SELECT at, CASE kind WHEN 'c' THEN 'channel' ELSE 'destination' END AS kind, name,"
    " CASE WHEN kind = 'a' THEN (to_state = 'sent')::int"
    f"  ELSE coalesce((to_state NOT IN {FAILED})::int, 0)"
    f"   - coalesce((from_state NOT IN {FAILED})::int, 0) END AS ok,"
    " CASE WHEN kind = 'a' THEN (to_state = 'failed')::int"
    f"  ELSE coalesce((to_state IN {FAILED})::int, 0)"
    f"   - coalesce((from_state IN {FAILED})::int, 0) END AS failed,"
    " coalesce(latency, 0) AS latency FROM {src} WHERE kind IN ('c', 'a')"
)
_FOLD = (
    "WITH moved AS (DELETE FROM console_deltas WHERE ctid = ANY(ARRAY("
    " SELECT ctid FROM console_deltas LIMIT %(batch)s))"
    " RETURNING kind, name, from_state, to_state, at, n, latency, detail, route),"
    " counted AS (INSERT INTO console_counts (kind, name, state, n)"
    f" SELECT kind, name, state, sum(n) FROM ({_COUNTED.format(src='moved')}) x"
    " GROUP BY 1, 2, 3 ON CONFLICT (kind, name, state)"
    " DO UPDATE SET n = console_counts.n + excluded.n),"
    " slotted AS (INSERT INTO console_activity (start, kind, name, ok, failed, latency_sum)"
    f" SELECT {SLOT}, kind, name, sum(ok), sum(failed), sum(latency)"
    f" FROM ({_ACTIVE.format(src='moved')}) y GROUP BY 1, 2, 3"
    " ON CONFLICT (start, kind, name) DO UPDATE SET ok = console_activity.ok + excluded.ok,"
    " failed = console_activity.failed + excluded.failed,"
    " latency_sum = console_activity.latency_sum + excluded.latency_sum),"
    " lasts AS (INSERT INTO console_last (name, last_error, last_error_at, last_sent_at)"
    " SELECT name, coalesce((array_agg(detail ORDER BY at DESC)"
    " FILTER (WHERE to_state = 'failed'))[1], ''),"
    " max(at) FILTER (WHERE to_state = 'failed'), max(at) FILTER (WHERE to_state = 'sent')"
    " FROM moved WHERE kind = 'a' GROUP BY 1 ON CONFLICT (name) DO UPDATE SET"
    " last_error = CASE WHEN excluded.last_error_at >= console_last.last_error_at"
    "  OR console_last.last_error_at IS NULL THEN excluded.last_error"
    "  ELSE console_last.last_error END,"
    " last_error_at = greatest(console_last.last_error_at, excluded.last_error_at),"
    " last_sent_at = greatest(console_last.last_sent_at, excluded.last_sent_at))"
    " SELECT count(*) FROM moved"
)


async def fold(conn: Conn) -> int:
    """Move pending deltas into the counters (in the caller's transaction); returns how
    many were folded, 0 when another node is folding. One statement: the rows it deletes
    are exactly the rows it counts, whatever commits meanwhile."""
    locked = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (FOLD_LOCK,))
    got = await locked.fetchone()
    if not got or not got[0]:
        return 0
    pending = await (await conn.execute("SELECT 1 FROM console_deltas LIMIT 1")).fetchone()
    if not pending:
        return 0
    row = await (await conn.execute(_FOLD, {"batch": FOLD_BATCH})).fetchone()
    await conn.execute(
        "DELETE FROM console_activity WHERE start < now() - make_interval(days => %s)",
        (ACTIVITY_DAYS,),
    )
    return int(row[0]) if row else 0


VACUUM_AFTER = 10_000
"""Once folds have moved this many deltas, ``console_deltas`` is vacuumed as soon as it is
drained (a queue table: its dead rows would slow every read until autovacuum)."""


async def vacuum(conn: Conn) -> None:
    """VACUUM the deltas table (an autocommit connection, outside any transaction)."""
    await conn.execute("VACUUM console_deltas")


async def counts(conn: Conn, kind: str) -> dict[str, dict[str, int]]:
    """name -> state -> n for one counter kind (``c``, ``d``, ``r``, ``p``), zeros left out."""
    cursor = await conn.execute(
        "SELECT name, state, sum(n) FROM (SELECT kind, name, state, n FROM console_counts"
        f" UNION ALL {_COUNTED.format(src='console_deltas')}) x"
        " WHERE kind = %s GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2",
        (kind,),
    )
    found: dict[str, dict[str, int]] = {}
    for name, state, n in await cursor.fetchall():
        found.setdefault(name, {})[state] = int(n)
    return found


async def channel_summaries(conn: Conn) -> list[ChannelSummary]:
    per_channel = await counts(conn, "c")
    names = sorted(per_channel)
    cursor = await conn.execute(
        "SELECT ch.name,"
        " (SELECT received_at FROM messages WHERE channel = ch.name ORDER BY id DESC LIMIT 1),"
        " (SELECT received_at FROM messages WHERE channel = ch.name"
        "  AND state IN ('received', 'processing') ORDER BY id LIMIT 1),"
        " e.reason, e.updated_at FROM unnest(%s::text[]) AS ch(name)"
        " LEFT JOIN LATERAL (SELECT reason, updated_at FROM messages WHERE channel = ch.name"
        f"  AND state IN {FAILED} ORDER BY id DESC LIMIT 1) e ON true",
        (names,),
    )
    facts = {r[0]: r[1:] for r in await cursor.fetchall()}
    return [
        ChannelSummary(
            channel=name,
            counts={MessageState(s): n for s, n in per_channel[name].items()},
            last_received_at=facts[name][0],
            oldest_waiting_at=facts[name][1],
            last_error=facts[name][2] or "",
            last_error_at=facts[name][3],
        )
        for name in names
    ]


async def destination_summaries(conn: Conn) -> list[DestinationSummary]:
    per_destination = await counts(conn, "d")
    names = sorted(per_destination)
    cursor = await conn.execute(
        "SELECT ds.name, (SELECT created_at FROM deliveries WHERE destination = ds.name"
        "  AND state IN ('pending', 'retrying') ORDER BY created_at LIMIT 1),"
        " l.last_error, l.last_error_at, l.last_sent_at"
        " FROM unnest(%s::text[]) AS ds(name) LEFT JOIN LATERAL (SELECT"
        "  (array_agg(e ORDER BY e_at DESC NULLS LAST, k DESC))[1] AS last_error,"
        "  max(e_at) AS last_error_at, max(s_at) AS last_sent_at FROM ("
        "   SELECT 0 AS k, last_error AS e, last_error_at AS e_at, last_sent_at AS s_at"
        "   FROM console_last WHERE name = ds.name"
        "   UNION ALL SELECT 1, CASE WHEN to_state = 'failed' THEN detail END,"
        "   CASE WHEN to_state = 'failed' THEN at END, CASE WHEN to_state = 'sent' THEN at END"
        "   FROM console_deltas WHERE kind = 'a' AND name = ds.name) u) l ON true",
        (names,),
    )
    facts = {r[0]: r[1:] for r in await cursor.fetchall()}
    return [
        DestinationSummary(
            destination=name,
            counts={DeliveryState(s): n for s, n in per_destination[name].items()},
            oldest_waiting_at=facts[name][0],
            last_error=(facts[name][1] or "") if facts[name][2] is not None else "",
            last_error_at=facts[name][2],
            last_sent_at=facts[name][3],
        )
        for name in names
    ]


ID_MARGIN = timedelta(minutes=1)
"""How far a message id's time may be from its ``received_at``."""


def _raw(since: datetime, until: datetime | None) -> tuple[str, dict[str, Any]]:
    """Activity rows of [since, until) computed from messages and attempts (index ranges:
    message ids are time-sortable, attempts have ``attempts_at``)."""
    args: dict[str, Any] = {"lo": since, "id_lo": id_bound(since - ID_MARGIN)}
    channel = f"{RAW_CHANNEL} WHERE id >= %(id_lo)s AND received_at >= %(lo)s"
    destination = f"{RAW_DESTINATION} AND a.at >= %(lo)s"
    if until is not None:
        args |= {"hi": until, "id_hi": id_bound(until + ID_MARGIN)}
        channel += " AND id < %(id_hi)s AND received_at < %(hi)s"
        destination += " AND a.at < %(hi)s"
    columns = "at, kind, name, ok, failed, latency"
    union = f"SELECT {columns} FROM ({channel}) c UNION ALL SELECT {columns} FROM ({destination}) d"
    return union, args


async def activity(conn: Conn, since: datetime, bucket_seconds: int) -> list[ActivityBucket]:
    """Buckets aligned on ``bucket_seconds`` since the epoch. With buckets a multiple of
    the slot, whole slots come from the counters (folded or not) and the slot cut by
    ``since`` from the rows; otherwise every row of the window is read."""
    if bucket_seconds % SLOT_SECONDS:
        rows, args = _raw(since, None)
    else:
        edge = datetime.fromtimestamp(
            (since.timestamp() // SLOT_SECONDS + 1) * SLOT_SECONDS, since.tzinfo
        )
        rows, args = _raw(since, edge)
        rows += (
            " UNION ALL SELECT start, kind, name, ok, failed, latency_sum FROM console_activity"
            " WHERE start >= %(edge)s"
            f" UNION ALL SELECT * FROM ({_ACTIVE.format(src='console_deltas')}) x"
            " WHERE at >= %(edge)s"
        )
        args["edge"] = edge
    args["b"] = bucket_seconds
    cursor = await conn.execute(
        "SELECT date_bin(make_interval(secs => %(b)s), at, 'epoch') AS b, kind, name,"
        " sum(ok), sum(failed), round(sum(latency)::numeric, 6)::float8"
        f" FROM ({rows}) w GROUP BY 1, 2, 3 HAVING sum(ok) <> 0 OR sum(failed) <> 0"
        " ORDER BY 1, 2, 3",
        args,
    )
    return [
        ActivityBucket(kind, name, start, int(ok), int(failed), float(latency))
        for start, kind, name, ok, failed, latency in await cursor.fetchall()
    ]


async def count_by_state(conn: Conn) -> dict[MessageState, int]:
    totals: dict[MessageState, int] = {}
    for states in (await counts(conn, "c")).values():
        for state, n in states.items():
            totals[MessageState(state)] = totals.get(MessageState(state), 0) + n
    return totals


async def delivery_counts(conn: Conn) -> dict[str, dict[DeliveryState, int]]:
    return {
        name: {DeliveryState(s): n for s, n in states.items()}
        for name, states in (await counts(conn, "d")).items()
    }


async def route_counts(conn: Conn) -> dict[str, int]:
    return {name: states.get("", 0) for name, states in (await counts(conn, "r")).items()}


async def payload_usage(conn: Conn) -> tuple[int, datetime | None]:
    total = (await counts(conn, "p")).get("", {}).get("", 0)
    row: Any = await (await conn.execute("SELECT min(at) FROM attempt_payloads")).fetchone()
    return total, row[0] if row else None


__all__ = [
    "FOLD_LOCK",
    "activity",
    "channel_summaries",
    "count_by_state",
    "counts",
    "delivery_counts",
    "destination_summaries",
    "fold",
    "payload_usage",
    "route_counts",
    "vacuum",
]
