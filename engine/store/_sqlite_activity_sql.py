"""SQL of the per-minute activity counters (schema version 7; see
:mod:`engine.store._sqlite_activity`). Strings only: the schema module imports it."""

from __future__ import annotations

_FAILED = "{r}.state IN ('error', 'rejected')"
_LATENCY = (
    "(CASE WHEN {r}.state IN ('routed', 'filtered', 'unmatched')"
    " THEN max({r}.updated_at - {r}.received_at, 0) ELSE 0 END)"
)
# a note (release, superseded) repeats the number of the attempt before it: not a failure
_ATTEMPT_FAILED = (
    "({r}.outcome = 'retrying' OR ({r}.outcome = 'dead' AND {r}.number > 0 AND NOT EXISTS ("
    "SELECT 1 FROM attempts x WHERE x.delivery_id = {r}.delivery_id"
    " AND x.number = {r}.number AND x.seq < {r}.seq)))"
)


def _add(r: str, sign: int) -> str:
    failed, latency = _FAILED.format(r=r), _LATENCY.format(r=r)
    return (
        "INSERT INTO activity_minutes (minute, kind, name, ok, failed, latency) VALUES"
        f" (CAST({r}.received_at / 60 AS INTEGER), 'channel', {r}.channel,"
        f" {sign} * (NOT {failed}), {sign} * ({failed}), {sign} * {latency})"
        " ON CONFLICT (minute, kind, name) DO UPDATE SET ok = ok + excluded.ok,"
        " failed = failed + excluded.failed, latency = latency + excluded.latency;"
    )


def _attempt() -> str:
    failed = _ATTEMPT_FAILED.format(r="NEW")
    return (
        "INSERT INTO activity_minutes (minute, kind, name, ok, failed, latency)"
        " SELECT CAST(NEW.at / 60 AS INTEGER), 'destination', d.destination,"
        f" NEW.outcome = 'sent', {failed},"
        " CASE WHEN NEW.outcome = 'sent' THEN max(NEW.at - m.received_at, 0) ELSE 0 END"
        " FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE d.id = NEW.delivery_id"
        " ON CONFLICT (minute, kind, name) DO UPDATE SET ok = ok + excluded.ok,"
        " failed = failed + excluded.failed, latency = latency + excluded.latency;"
    )


_CHANGED = " OR ".join(
    f"({e.format(r='OLD')}) IS NOT ({e.format(r='NEW')})"
    for e in (_FAILED, _LATENCY, "{r}.channel", "{r}.received_at")
)

DDL: tuple[str, ...] = (
    """CREATE TABLE activity_minutes (
    minute   INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    name     TEXT NOT NULL,
    ok       INTEGER NOT NULL,
    failed   INTEGER NOT NULL,
    latency  REAL NOT NULL,
    PRIMARY KEY (minute, kind, name)
) WITHOUT ROWID""",
    f"CREATE TRIGGER activity_message_insert AFTER INSERT ON messages BEGIN {_add('NEW', 1)} END",
    "CREATE TRIGGER activity_message_update AFTER UPDATE OF state, updated_at, received_at,"
    f" channel ON messages WHEN {_CHANGED} BEGIN {_add('OLD', -1)} {_add('NEW', 1)} END",
    f"CREATE TRIGGER activity_message_delete AFTER DELETE ON messages BEGIN {_add('OLD', -1)} END",
    "CREATE TRIGGER activity_attempt_insert AFTER INSERT ON attempts"
    f" WHEN NEW.outcome IN ('sent', 'retrying', 'dead') BEGIN {_attempt()} END",
)
"""Schema version 7: the table and its triggers; :data:`BACKFILL` fills it once."""

# "+channel": grouping must not make the planner walk a channel index over every message
CHANNEL_ROWS = f"""
SELECT 'channel', channel, CAST(received_at / :b AS INTEGER), sum(NOT {_FAILED.format(r="m")}),
       sum({_FAILED.format(r="m")}), total({_LATENCY.format(r="m")})
FROM messages m WHERE id >= :first AND id < :last AND received_at >= :since
  AND received_at < :until
GROUP BY +channel, 3
"""
DESTINATION_ROWS = f"""
SELECT 'destination', d.destination, CAST(a.at / :b AS INTEGER), sum(a.outcome = 'sent'),
       sum({_ATTEMPT_FAILED.format(r="a")}),
       total(CASE WHEN a.outcome = 'sent' THEN max(a.at - m.received_at, 0) END)
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id JOIN messages m ON m.id = d.message_id
WHERE a.at >= :since AND a.at < :until AND a.outcome IN ('sent', 'retrying', 'dead')
GROUP BY 2, 3
"""
MINUTES = """
SELECT kind, name, CAST(minute * 60 / :b AS INTEGER), sum(ok), sum(failed), total(latency)
FROM activity_minutes WHERE minute >= :from_minute GROUP BY 1, 2, 3
"""

BACKFILL: tuple[str, ...] = tuple(
    "INSERT INTO activity_minutes (kind, name, minute, ok, failed, latency)"
    + sql.replace(":b", "60")
    .replace(":first", "''")
    .replace(":last", "'~'")
    .replace(":since", "0")
    .replace(":until", "1e300")
    for sql in (CHANNEL_ROWS, DESTINATION_ROWS)
)


__all__ = ["BACKFILL", "CHANNEL_ROWS", "DDL", "DESTINATION_ROWS", "MINUTES"]
