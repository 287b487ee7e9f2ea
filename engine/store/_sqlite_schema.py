"""SQLite schema and row conversions for :mod:`engine.store.sqlite`.

Times are stored as UNIX seconds (REAL, UTC); the raw message as a BLOB; metadata as JSON.
``PRAGMA user_version`` carries the schema version: :data:`DDL_V1` creates version 1 and
each entry of :data:`MIGRATIONS` moves a store one version up, so a new store and an old
one that is migrated end with the same schema.

Version 2 (delivery ordering and replay): ``deliveries.order_key`` (digest of the ordering
key, NULL when the destination is unordered), ``deliveries.released`` (a dead delivery that
no longer holds its key), ``deliveries.attempts_at_replay`` (attempts made before the last
operator replay) and ``messages.replay_scope`` (JSON, set while a replayed message waits to
be routed again).

Version 3: ``messages.intake_key`` (indexed per channel).

Version 4 (several processes, one delivery per route): deliveries are unique per
(message, route, destination) instead of (message, destination), ``deliveries.seq`` orders
a message's deliveries (route order), and ``claim_owner``/``claim_until`` on messages and
deliveries record leases. SQLite cannot drop a UNIQUE constraint, so the deliveries table is
rebuilt (the documented create-copy-drop-rename procedure, foreign keys off meanwhile).

Version 5 (payloads at rest): ``messages.key_id`` (the key a sealed ``raw`` is encrypted
under, NULL when stored in clear, see :mod:`engine.store.crypto`), ``messages.purged_at``
(retention removed the payload) and ``attempt_payloads`` (what an attempt sent and the
peer answered, sealed like the raw message). New stores use ``auto_vacuum = INCREMENTAL``
so that purged payloads give their space back.

Version 6: the ``deliveries_message`` index goes (the unique index on (message_id, route,
destination) serves the same lookups): 40 bytes less per message.

Version 7 (operator console): counters, overview indexes, the patient index and the
console's tables; see :mod:`engine.store._sqlite_console_schema`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from engine.errors import StoreError
from engine.message import DeliveryState, Envelope, MessageState
from engine.store._sqlite_console_schema import MIGRATION_V7
from engine.store.base import Attempt, DeliveryRecord, StoredMessage, Transition
from engine.store.crypto import CLEAR, PayloadCipher

SCHEMA_VERSION = 7

DDL_V1 = """
CREATE TABLE IF NOT EXISTS messages (
    id            TEXT PRIMARY KEY,
    channel       TEXT NOT NULL,
    received_at   REAL NOT NULL,
    content_type  TEXT NOT NULL,
    raw           BLOB NOT NULL,
    metadata      TEXT NOT NULL,
    control_id    TEXT,
    state         TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    updated_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_unfinished ON messages(state)
    WHERE state IN ('received', 'processing');
CREATE INDEX IF NOT EXISTS messages_channel ON messages(channel, id);
CREATE INDEX IF NOT EXISTS messages_control_id ON messages(control_id);
CREATE TABLE IF NOT EXISTS transitions (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  TEXT NOT NULL REFERENCES messages(id),
    at          REAL NOT NULL,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS transitions_message ON transitions(message_id, seq);
CREATE TABLE IF NOT EXISTS deliveries (
    id               TEXT PRIMARY KEY,
    message_id       TEXT NOT NULL REFERENCES messages(id),
    destination      TEXT NOT NULL,
    route            TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    next_attempt_at  REAL,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    detail           TEXT NOT NULL DEFAULT '',
    UNIQUE (message_id, destination)
);
CREATE INDEX IF NOT EXISTS deliveries_open ON deliveries(state)
    WHERE state IN ('pending', 'retrying');
CREATE INDEX IF NOT EXISTS deliveries_destination ON deliveries(destination, state);
CREATE TABLE IF NOT EXISTS attempts (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  TEXT NOT NULL REFERENCES deliveries(id),
    number       INTEGER NOT NULL,
    at           REAL NOT NULL,
    outcome      TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts(delivery_id, seq);
CREATE TABLE IF NOT EXISTS dedupe (
    destination  TEXT NOT NULL,
    key          TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    at           REAL NOT NULL,
    PRIMARY KEY (destination, key)
);
"""

#: version reached -> statements that reach it from the version before.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE deliveries ADD COLUMN order_key TEXT",
        "ALTER TABLE deliveries ADD COLUMN released INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE deliveries ADD COLUMN attempts_at_replay INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE messages ADD COLUMN replay_scope TEXT",
        "CREATE INDEX deliveries_order ON deliveries(destination, order_key, message_id)"
        " WHERE order_key IS NOT NULL",
    ),
    3: (
        "ALTER TABLE messages ADD COLUMN intake_key TEXT",
        "CREATE INDEX messages_intake_key ON messages(channel, intake_key)"
        " WHERE intake_key IS NOT NULL",
    ),
    4: (
        """CREATE TABLE deliveries_v4 (
    id                  TEXT PRIMARY KEY,
    message_id          TEXT NOT NULL REFERENCES messages(id),
    destination         TEXT NOT NULL,
    route               TEXT NOT NULL,
    state               TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT NOT NULL DEFAULT '',
    next_attempt_at     REAL,
    created_at          REAL NOT NULL,
    updated_at          REAL NOT NULL,
    detail              TEXT NOT NULL DEFAULT '',
    order_key           TEXT,
    released            INTEGER NOT NULL DEFAULT 0,
    attempts_at_replay  INTEGER NOT NULL DEFAULT 0,
    seq                 INTEGER NOT NULL DEFAULT 0,
    claim_owner         TEXT,
    claim_until         REAL,
    UNIQUE (message_id, route, destination)
)""",
        "INSERT INTO deliveries_v4 (id, message_id, destination, route, state, attempts,"
        " last_error, next_attempt_at, created_at, updated_at, detail, order_key, released,"
        " attempts_at_replay) SELECT id, message_id, destination, route, state, attempts,"
        " last_error, next_attempt_at, created_at, updated_at, detail, order_key, released,"
        " attempts_at_replay FROM deliveries",
        "DROP TABLE deliveries",
        "ALTER TABLE deliveries_v4 RENAME TO deliveries",
        "CREATE INDEX deliveries_open ON deliveries(state) WHERE state IN ('pending', 'retrying')",
        "CREATE INDEX deliveries_destination ON deliveries(destination, state)",
        "CREATE INDEX deliveries_message ON deliveries(message_id, seq)",
        "CREATE INDEX deliveries_order ON deliveries(destination, order_key, message_id, seq)"
        " WHERE order_key IS NOT NULL",
        "ALTER TABLE messages ADD COLUMN claim_owner TEXT",
        "ALTER TABLE messages ADD COLUMN claim_until REAL",
    ),
    5: (
        "ALTER TABLE messages ADD COLUMN key_id TEXT",
        "ALTER TABLE messages ADD COLUMN purged_at REAL",
        """CREATE TABLE attempt_payloads (
    delivery_id  TEXT NOT NULL REFERENCES deliveries(id),
    number       INTEGER NOT NULL,
    sent         BLOB,
    response     BLOB,
    key_id       TEXT,
    PRIMARY KEY (delivery_id, number)
)""",
    ),
    6: ("DROP INDEX IF EXISTS deliveries_message",),
    7: MIGRATION_V7,
}


def migrate(conn: sqlite3.Connection, path: object) -> None:
    """Bring the database of ``conn`` to :data:`SCHEMA_VERSION` in one transaction.

    Raises:
        StoreError: the store was written by a newer engine.
        sqlite3.Error: a migration statement failed (nothing was changed).
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} has schema {version}, newer than this engine")
    if version == SCHEMA_VERSION:
        return
    script = [DDL_V1] if version == 0 else []
    for target in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
        script.extend(f"{statement};" for statement in MIGRATIONS[target])
    body = "\n".join(script)
    conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set before
    try:
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{body}\nPRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;"
        )
    except sqlite3.Error:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.execute("PRAGMA foreign_keys = ON")


MESSAGE_COLUMNS = (
    "id, channel, received_at, content_type, raw, metadata, state, reason, updated_at, key_id"
)
DELIVERY_COLUMNS = (
    "id, message_id, destination, route, state, attempts, last_error, next_attempt_at, "
    "created_at, updated_at, detail, order_key, released, attempts_at_replay, seq, "
    "claim_owner, claim_until"
)


def ts(value: datetime) -> float:
    return value.timestamp()


def dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def message_from_row(row: Sequence[Any], cipher: PayloadCipher = CLEAR) -> StoredMessage:
    """A message from a :data:`MESSAGE_COLUMNS` row, its payload opened with ``cipher``."""
    id_, channel, received_at, content_type, raw, metadata, state, reason, updated_at, key = row
    envelope = Envelope(
        id=str(id_),
        channel=str(channel),
        received_at=dt(float(received_at)),
        content_type=str(content_type),
        raw=cipher.open(bytes(raw), key, f"message {id_}"),
        metadata=json.loads(str(metadata)),
    )
    return StoredMessage(envelope, MessageState(state), str(reason), dt(float(updated_at)))


def delivery_from_row(row: Sequence[Any]) -> DeliveryRecord:
    (
        id_,
        message_id,
        destination,
        route,
        state,
        attempts,
        last_error,
        next_at,
        created,
        updated,
        detail,
        order_key,
        released,
        attempts_at_replay,
        seq,
        claim_owner,
        claim_until,
    ) = row
    return DeliveryRecord(
        id=str(id_),
        message_id=str(message_id),
        destination=str(destination),
        route=str(route),
        state=DeliveryState(state),
        attempts=int(attempts),
        last_error=str(last_error),
        next_attempt_at=dt(float(next_at)) if next_at is not None else None,
        created_at=dt(float(created)),
        updated_at=dt(float(updated)),
        detail=str(detail),
        order_key=str(order_key) if order_key is not None else None,
        released=bool(released),
        attempts_at_replay=int(attempts_at_replay),
        seq=int(seq),
        claim_owner=str(claim_owner) if claim_owner is not None else None,
        claim_until=dt(float(claim_until)) if claim_until is not None else None,
    )


def transition_from_row(row: Sequence[Any]) -> Transition:
    at, from_state, to_state, reason = row
    return Transition(
        at=dt(float(at)),
        from_state=MessageState(from_state) if from_state is not None else None,
        to_state=MessageState(to_state),
        reason=str(reason),
    )


def attempt_from_row(row: Sequence[Any]) -> Attempt:
    delivery_id, number, at, outcome, detail = row
    return Attempt(
        delivery_id=str(delivery_id),
        number=int(number),
        at=dt(float(at)),
        outcome=DeliveryState(outcome),
        detail=str(detail),
    )
