"""Overview figures of the PostgreSQL store, from the counters of schema version 5.

Writers only insert into ``console_deltas`` (triggers, see
:mod:`engine.store._pg_console_schema`); :func:`fold` moves them into the counter tables.
Every read below adds the deltas not folded yet in the same statement, so it is exact
without a fold and costs the number of channels/destinations (index seeks), never the
size of ``messages``. Activity is kept per 10-second slot: a bucket of ``b`` seconds sums
the slots that start in it (buckets finer than 10 s see whole slots).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.message import DeliveryState, MessageState
from engine.store._pg_ops import Conn
from engine.store.console import ActivityBucket, ChannelSummary, DestinationSummary

FOLD_LOCK = 0x70A55E11F
"""Advisory lock key: one folder at a time (the others skip)."""
FOLD_BATCH = 200_000
ACTIVITY_DAYS = 31
"""Activity slots older than this are dropped when folding."""

_FAILED = "('error', 'rejected')"
_SLOT = "date_bin('10 seconds', {at}, 'epoch')"

# per delta row: counter rows it changes (kind, name, state, n)
_COUNTED = (
    "SELECT kind, name, to_state AS state, n FROM {src} WHERE kind <> 'a' AND to_state IS NOT NULL"
    " UNION ALL SELECT kind, name, from_state, -n FROM {src}"
    " WHERE kind <> 'a' AND from_state IS NOT NULL"
)
# per delta row: activity (start, kind, name, ok, failed, latency)
_ACTIVE = (
    f"SELECT {_SLOT.format(at='at')} AS start,"
    " CASE kind WHEN 'c' THEN 'channel' ELSE 'destination' END AS kind, name,"
    " CASE WHEN kind = 'a' THEN (to_state = 'sent')::int"
    "  ELSE (from_state IS NULL)::int - (to_state IS NULL)::int END AS ok,"
    " CASE WHEN kind = 'a' THEN (to_state = 'failed')::int"
    f"  ELSE coalesce((to_state IN {_FAILED})::int, 0)"
    f"   - coalesce((from_state IN {_FAILED})::int, 0) END AS failed,"
    " coalesce(latency, 0) AS latency FROM {src} WHERE kind IN ('c', 'a')"
)
_FOLD = (
    "WITH moved AS (DELETE FROM console_deltas WHERE id IN"
    " (SELECT id FROM console_deltas ORDER BY id LIMIT %(batch)s)"
    " RETURNING id, kind, name, from_state, to_state, at, n, latency, detail),"
    " counted AS (INSERT INTO console_counts (kind, name, state, n)"
    f" SELECT kind, name, state, sum(n) FROM ({_COUNTED.format(src='moved')}) x"
    " GROUP BY 1, 2, 3 ON CONFLICT (kind, name, state)"
    " DO UPDATE SET n = console_counts.n + excluded.n),"
    " slotted AS (INSERT INTO console_activity (start, kind, name, ok, failed, latency_sum)"
    f" SELECT start, kind, name, sum(ok), sum(failed), sum(latency)"
    f" FROM ({_ACTIVE.format(src='moved')}) y GROUP BY 1, 2, 3"
    " ON CONFLICT (start, kind, name) DO UPDATE SET ok = console_activity.ok + excluded.ok,"
    " failed = console_activity.failed + excluded.failed,"
    " latency_sum = console_activity.latency_sum + excluded.latency_sum),"
    " lasts AS (INSERT INTO console_last (name, last_error, last_error_at, last_sent_at)"
    " SELECT name, coalesce((array_agg(detail ORDER BY at DESC, id DESC)"
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
    row = await (await conn.execute(_FOLD, {"batch": FOLD_BATCH})).fetchone()
    await conn.execute(
        "DELETE FROM console_activity WHERE start < now() - make_interval(days => %s)",
        (ACTIVITY_DAYS,),
    )
    return int(row[0]) if row else 0


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
        f"  AND state IN {_FAILED} ORDER BY id DESC LIMIT 1) e ON true",
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
        "   UNION ALL SELECT id, CASE WHEN to_state = 'failed' THEN detail END,"
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


async def activity(conn: Conn, since: datetime, bucket_seconds: int) -> list[ActivityBucket]:
    """Buckets aligned on ``bucket_seconds`` since the epoch, from the slot of ``since``."""
    cursor = await conn.execute(
        "SELECT date_bin(make_interval(secs => %(b)s), start, 'epoch') AS b, kind, name,"
        " sum(ok), sum(failed), round(sum(latency)::numeric, 6)::float8 FROM ("
        " SELECT start, kind, name, ok, failed, latency_sum AS latency FROM console_activity"
        f"  WHERE start >= {_SLOT.format(at='%(since)s::timestamptz')}"
        f" UNION ALL SELECT * FROM ({_ACTIVE.format(src='console_deltas')}) d"
        "  WHERE start >= date_bin('10 seconds', %(since)s::timestamptz, 'epoch')) x"
        " GROUP BY 1, 2, 3 HAVING sum(ok) <> 0 OR sum(failed) <> 0 ORDER BY 1, 2, 3",
        {"b": bucket_seconds, "since": since},
    )
    return [
        ActivityBucket(kind, name, start, int(ok), int(failed), float(latency))
        for start, kind, name, ok, failed, latency in await cursor.fetchall()
    ]


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
    "counts",
    "destination_summaries",
    "fold",
    "payload_usage",
    "route_counts",
]
