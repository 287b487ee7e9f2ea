"""Activity buckets of the SQLite store (the dashboard's sparklines).

``activity_minutes`` holds, per minute, kind (``channel``/``destination``) and name, the
``ok``/``failed`` counts and the latency sum of :class:`~engine.store.console.ActivityBucket`,
kept by triggers in the writing transaction (a message counts in the minute it was
received, by its current state: a replay or a late failure moves it; an attempt in the
minute it was made). :func:`activity` sums the whole minutes of the window from there and
reads the rows only for the minute cut by ``since`` (or for every row of the window when
the bucket is not a whole number of minutes, or the window is older than
:data:`KEEP_DAYS`). :func:`prune` drops minutes older than that.
"""

from __future__ import annotations

import math
import sqlite3
import time
from datetime import datetime

from engine.store import _sqlite_schema as schema
from engine.store._semantics import id_bound
from engine.store._sqlite_activity_sql import CHANNEL_ROWS, DESTINATION_ROWS, MINUTES
from engine.store._sqlite_search import ID_MARGIN
from engine.store.console import ActivityBucket

KEEP_DAYS = 31
"""Days of per-minute activity kept."""


def activity(conn: sqlite3.Connection, since: datetime, bucket: int) -> list[ActivityBucket]:
    """See :meth:`ConsoleStore.activity`. Channel ``ok``: messages received that are not
    rejected nor in error (``latency_sum``: receipt to the end of routing, for the routed,
    filtered and unmatched ones); ``failed``: rejected or in error."""
    start = schema.ts(since)
    whole = bucket % 60 == 0 and start > time.time() - KEEP_DAYS * 86400 + 120
    cut = math.ceil(start / 60) * 60 if whole else math.inf
    last = id_bound(schema.dt(cut) + ID_MARGIN) if whole else "~"  # "~" sorts after ids
    args = {"b": bucket, "since": start, "until": cut, "first": id_bound(since - ID_MARGIN),
            "last": last, "from_minute": int(cut // 60) if whole else 0}  # fmt: skip
    sums: dict[tuple[str, str, int], list[float]] = {}
    queries = [CHANNEL_ROWS, DESTINATION_ROWS] + ([MINUTES] if whole else [])
    for sql in queries:
        for kind, name, k, ok, failed, latency in conn.execute(sql, args):
            total = sums.setdefault((str(kind), str(name), int(k)), [0, 0, 0.0])
            total[0] += int(ok or 0)
            total[1] += int(failed or 0)
            total[2] += float(latency or 0.0)
    out = [
        ActivityBucket(kind, name, schema.dt(float(k * bucket)), int(ok), int(failed), latency)
        for (kind, name, k), (ok, failed, latency) in sums.items()
        if ok or failed
    ]
    out.sort(key=lambda b: (b.start, b.kind, b.name))
    return out


def prune(conn: sqlite3.Connection) -> None:
    """Drop the minutes older than :data:`KEEP_DAYS` (writer thread; one index range)."""
    oldest = int((time.time() - KEEP_DAYS * 86400) // 60)
    conn.execute("DELETE FROM activity_minutes WHERE minute < ?", (oldest,))


__all__ = ["KEEP_DAYS", "activity", "prune"]
