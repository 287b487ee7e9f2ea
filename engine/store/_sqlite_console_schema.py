"""Schema version 7 of the SQLite store: what the operator console needs.

* Counters kept by triggers in the writing transaction: ``channel_counts`` (messages per
  channel and state), ``destination_counts`` (deliveries per destination and state) and
  ``route_counts`` (deliveries per route); the migration backfills them from the rows.
  ``destination_facts`` (last failed / last sent attempt per destination) is written by
  the store beside the attempt (notes such as a release are not failures).
* Indexes answering the overview with one index seek: messages by (channel, state, id)
  and (state, id) (which replaces the partial ``messages_unfinished``), deliveries by
  (destination, state, created_at) and (state, message_id) (which replaces the partial
  ``deliveries_open`` and lets a search by delivery state walk message ids in order),
  attempts by time (activity).
* ``activity_minutes``: the dashboard's activity per minute, kept by triggers and
  backfilled (:mod:`engine.store._sqlite_activity`).
* Attempt payload budget: ``attempt_payloads.at`` (indexed; the attempt's time) and
  ``payload_usage`` (their bytes, kept by triggers).
* ``patient_keys`` (17-byte digests, :mod:`engine.patient_index`), a ``WITHOUT ROWID``
  table keyed (key, message_id).
* Plain tables: accounts, API tokens, sessions, controls, alert states, leases, node
  heartbeats; ``audit``, append-only (triggers abort any UPDATE or DELETE).
"""

from __future__ import annotations

from engine.store._sqlite_activity_sql import BACKFILL as ACTIVITY_BACKFILL
from engine.store._sqlite_activity_sql import DDL as ACTIVITY_DDL


def _counter_triggers(table: str, counters: str, key: str) -> tuple[str, ...]:
    """Triggers keeping ``counters(<key>, state, n)`` equal to the rows of ``table``."""

    def add(row: str, delta: int) -> str:
        return (
            f"INSERT INTO {counters} ({key}, state, n) VALUES ({row}.{key}, {row}.state,"
            f" {delta}) ON CONFLICT ({key}, state) DO UPDATE SET n = n + ({delta});"
        )

    return (
        f"CREATE TRIGGER {counters}_insert AFTER INSERT ON {table} BEGIN {add('NEW', 1)} END",
        f"CREATE TRIGGER {counters}_update AFTER UPDATE OF state, {key} ON {table}"
        f" WHEN OLD.state IS NOT NEW.state OR OLD.{key} IS NOT NEW.{key}"
        f" BEGIN {add('OLD', -1)} {add('NEW', 1)} END",
        f"CREATE TRIGGER {counters}_delete AFTER DELETE ON {table} BEGIN {add('OLD', -1)} END",
    )


def _route_triggers() -> tuple[str, ...]:
    def add(row: str, delta: int) -> str:
        return (
            f"INSERT INTO route_counts (route, n) VALUES ({row}.route, {delta})"
            f" ON CONFLICT (route) DO UPDATE SET n = n + ({delta});"
        )

    return (
        f"CREATE TRIGGER route_counts_insert AFTER INSERT ON deliveries BEGIN {add('NEW', 1)} END",
        "CREATE TRIGGER route_counts_update AFTER UPDATE OF route ON deliveries"
        f" WHEN OLD.route IS NOT NEW.route BEGIN {add('OLD', -1)} {add('NEW', 1)} END",
        f"CREATE TRIGGER route_counts_delete AFTER DELETE ON deliveries BEGIN {add('OLD', -1)} END",
    )


def _usage_triggers() -> tuple[str, ...]:
    """Triggers keeping ``payload_usage['attempts']`` the bytes of ``attempt_payloads``."""

    def size(row: str) -> str:
        return f"coalesce(length({row}.sent), 0) + coalesce(length({row}.response), 0)"

    def add(delta: str) -> str:
        return f"UPDATE payload_usage SET bytes = bytes + ({delta}) WHERE name = 'attempts';"

    change = f"({size('NEW')}) - ({size('OLD')})"
    removed = f"-({size('OLD')})"
    return (
        "CREATE TRIGGER payload_usage_insert AFTER INSERT ON attempt_payloads"
        f" BEGIN {add(size('NEW'))} END",
        "CREATE TRIGGER payload_usage_update AFTER UPDATE OF sent, response ON attempt_payloads"
        f" BEGIN {add(change)} END",
        "CREATE TRIGGER payload_usage_delete AFTER DELETE ON attempt_payloads"
        f" BEGIN {add(removed)} END",
    )


MIGRATION_V7: tuple[str, ...] = (
    # --- counters -----------------------------------------------------------------------
    """CREATE TABLE channel_counts (
    channel  TEXT NOT NULL,
    state    TEXT NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (channel, state)
) WITHOUT ROWID""",
    """CREATE TABLE destination_counts (
    destination  TEXT NOT NULL,
    state        TEXT NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (destination, state)
) WITHOUT ROWID""",
    "CREATE TABLE route_counts (route TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID",
    """CREATE TABLE destination_facts (
    destination    TEXT PRIMARY KEY,
    last_error     TEXT NOT NULL DEFAULT '',
    last_error_at  REAL,
    last_sent_at   REAL
)""",
    "INSERT INTO channel_counts SELECT channel, state, count(*) FROM messages GROUP BY 1, 2",
    "INSERT INTO destination_counts SELECT destination, state, count(*) FROM deliveries"
    " GROUP BY 1, 2",
    "INSERT INTO route_counts SELECT route, count(*) FROM deliveries GROUP BY 1",
    "INSERT INTO destination_facts (destination, last_sent_at) SELECT d.destination, max(a.at)"
    " FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE a.outcome = 'sent'"
    " GROUP BY 1",
    # the newest real failure (a note repeats the number of the attempt before it)
    "INSERT INTO destination_facts (destination, last_error, last_error_at)"
    " SELECT destination, detail, at FROM (SELECT d.destination, a.detail, a.at,"
    " row_number() OVER (PARTITION BY d.destination ORDER BY a.seq DESC) AS k"
    " FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
    " WHERE a.outcome = 'retrying' OR (a.outcome = 'dead' AND NOT EXISTS (SELECT 1"
    " FROM attempts b WHERE b.delivery_id = a.delivery_id AND b.number = a.number"
    " AND b.seq < a.seq))) WHERE k = 1"
    " ON CONFLICT (destination) DO UPDATE SET last_error = excluded.last_error,"
    " last_error_at = excluded.last_error_at",
    *_counter_triggers("messages", "channel_counts", "channel"),
    *_counter_triggers("deliveries", "destination_counts", "destination"),
    *_route_triggers(),
    # --- indexes --------------------------------------------------------------------
    "DROP INDEX IF EXISTS messages_unfinished",
    "CREATE INDEX messages_state ON messages(state, id)",
    "CREATE INDEX messages_channel_state ON messages(channel, state, id)",
    "DROP INDEX IF EXISTS deliveries_destination",
    "CREATE INDEX deliveries_destination ON deliveries(destination, state, created_at)",
    "DROP INDEX IF EXISTS deliveries_open",
    "CREATE INDEX deliveries_state ON deliveries(state, message_id)",
    "CREATE INDEX attempts_at ON attempts(at)",
    # --- attempt payload budget ---------------------------------------------------------
    "ALTER TABLE attempt_payloads ADD COLUMN at REAL NOT NULL DEFAULT 0",
    "UPDATE attempt_payloads SET at = coalesce((SELECT max(a.at) FROM attempts a"
    " WHERE a.delivery_id = attempt_payloads.delivery_id"
    " AND a.number = attempt_payloads.number), 0)",
    "CREATE INDEX attempt_payloads_at ON attempt_payloads(at)",
    "CREATE TABLE payload_usage (name TEXT PRIMARY KEY, bytes INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT INTO payload_usage SELECT 'attempts',"
    " coalesce(sum(coalesce(length(sent), 0) + coalesce(length(response), 0)), 0)"
    " FROM attempt_payloads",
    *_usage_triggers(),
    # --- activity per minute ----------------------------------------------------------
    *ACTIVITY_DDL,
    *ACTIVITY_BACKFILL,
    # --- patient index --------------------------------------------------------------
    """CREATE TABLE patient_keys (
    key         BLOB NOT NULL,
    message_id  TEXT NOT NULL,
    PRIMARY KEY (key, message_id)
) WITHOUT ROWID""",
    # --- console --------------------------------------------------------------------
    """CREATE TABLE accounts (
    name            TEXT PRIMARY KEY,
    role            TEXT NOT NULL,
    password_hash   TEXT NOT NULL DEFAULT '',
    establishments  TEXT NOT NULL DEFAULT '[]',
    disabled        INTEGER NOT NULL DEFAULT 0,
    source          TEXT NOT NULL DEFAULT 'local',
    created_at      REAL,
    updated_at      REAL
)""",
    """CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    account       TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL,
    created_at    REAL NOT NULL,
    expires_at    REAL,
    last_used_at  REAL,
    revoked       INTEGER NOT NULL DEFAULT 0
)""",
    "CREATE INDEX api_tokens_account ON api_tokens(account, created_at)",
    """CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    csrf_token  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL,
    source      TEXT NOT NULL DEFAULT 'local'
)""",
    "CREATE INDEX sessions_account ON sessions(account)",
    "CREATE INDEX sessions_expiry ON sessions(expires_at)",
    """CREATE TABLE audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       REAL NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    object   TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    detail   TEXT NOT NULL DEFAULT '',
    client   TEXT NOT NULL DEFAULT ''
)""",
    "CREATE INDEX audit_actor ON audit(actor, id)",
    "CREATE INDEX audit_object ON audit(object, id)",
    "CREATE INDEX audit_at ON audit(at)",
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END",
    """CREATE TABLE controls (
    kind    TEXT NOT NULL,
    name    TEXT NOT NULL,
    paused  INTEGER NOT NULL,
    by      TEXT NOT NULL,
    at      REAL NOT NULL,
    reason  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (kind, name)
)""",
    """CREATE TABLE alert_states (
    fingerprint  TEXT PRIMARY KEY,
    firing       INTEGER NOT NULL,
    since        REAL,
    notified_at  REAL,
    resolved_at  REAL,
    detail       TEXT NOT NULL DEFAULT ''
)""",
    "CREATE TABLE leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until REAL NOT NULL)",
    """CREATE TABLE node_statuses (
    node          TEXT PRIMARY KEY,
    pid           INTEGER NOT NULL,
    started_at    REAL NOT NULL,
    heartbeat_at  REAL NOT NULL,
    channels      TEXT NOT NULL DEFAULT '{}'
)""",
)

__all__ = ["MIGRATION_V7"]
