"""PostgreSQL schema, versioned migrations and row conversions for :mod:`engine.store.postgres`.

The ``schema_version`` table holds one row, the version the database is at. Each entry of
:data:`MIGRATIONS` is an ordered step that moves a database one version up; a new database
runs every step from 1, an old one the steps it lacks, all in one transaction under an
advisory lock, so two nodes starting together migrate once. A database written by a newer
engine is refused.

Identifiers (ULIDs) and keys use the ``C`` collation so that they sort by byte, like in
SQLite: message ids order messages by arrival. Times are ``timestamptz``; metadata is
``jsonb`` (queryable); the raw message is ``bytea``, stored as received.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from engine.errors import StoreError
from engine.message import DeliveryState, Envelope, MessageState
from engine.store._pg_console_schema import MIGRATION_V5
from engine.store.base import Attempt, DeliveryRecord, StoredMessage, Transition
from engine.store.crypto import CLEAR, PayloadCipher

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x70A55E11E
"""Advisory lock key taken while migrating."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # version 1: the schema of SQLite version 4
    (
        """CREATE TABLE messages (
    id            text COLLATE "C" PRIMARY KEY,
    channel       text NOT NULL,
    received_at   timestamptz NOT NULL,
    content_type  text NOT NULL,
    raw           bytea NOT NULL,
    metadata      jsonb NOT NULL,
    control_id    text,
    intake_key    text COLLATE "C",
    state         text NOT NULL,
    reason        text NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL,
    replay_scope  jsonb,
    claim_owner   text,
    claim_until   timestamptz
)""",
        "CREATE INDEX messages_unfinished ON messages(id)"
        " WHERE state IN ('received', 'processing')",
        "CREATE INDEX messages_channel ON messages(channel, id)",
        "CREATE INDEX messages_control_id ON messages(control_id)",
        "CREATE INDEX messages_intake_key ON messages(channel, intake_key)"
        " WHERE intake_key IS NOT NULL",
        """CREATE TABLE transitions (
    seq         bigserial PRIMARY KEY,
    message_id  text COLLATE "C" NOT NULL REFERENCES messages(id),
    at          timestamptz NOT NULL,
    from_state  text,
    to_state    text NOT NULL,
    reason      text NOT NULL DEFAULT ''
)""",
        "CREATE INDEX transitions_message ON transitions(message_id, seq)",
        """CREATE TABLE deliveries (
    id                  text COLLATE "C" PRIMARY KEY,
    message_id          text COLLATE "C" NOT NULL REFERENCES messages(id),
    destination         text NOT NULL,
    route               text NOT NULL,
    state               text NOT NULL,
    attempts            integer NOT NULL DEFAULT 0,
    last_error          text NOT NULL DEFAULT '',
    next_attempt_at     timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    detail              text NOT NULL DEFAULT '',
    order_key           text COLLATE "C",
    released            boolean NOT NULL DEFAULT false,
    attempts_at_replay  integer NOT NULL DEFAULT 0,
    seq                 integer NOT NULL DEFAULT 0,
    claim_owner         text,
    claim_until         timestamptz,
    UNIQUE (message_id, route, destination)
)""",
        "CREATE INDEX deliveries_open ON deliveries(id) WHERE state IN ('pending', 'retrying')",
        "CREATE INDEX deliveries_destination ON deliveries(destination, state)",
        "CREATE INDEX deliveries_message ON deliveries(message_id, seq)",
        "CREATE INDEX deliveries_order ON deliveries(destination, order_key, message_id, seq)"
        " WHERE order_key IS NOT NULL",
        """CREATE TABLE attempts (
    seq          bigserial PRIMARY KEY,
    delivery_id  text COLLATE "C" NOT NULL REFERENCES deliveries(id),
    number       integer NOT NULL,
    at           timestamptz NOT NULL,
    outcome      text NOT NULL,
    detail       text NOT NULL DEFAULT ''
)""",
        "CREATE INDEX attempts_delivery ON attempts(delivery_id, seq)",
        """CREATE TABLE dedupe (
    destination  text NOT NULL,
    key          text NOT NULL,
    delivery_id  text NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (destination, key)
)""",
    ),
    # version 2: payloads at rest (SQLite version 5): the key of a sealed raw message,
    # retention, attempt payloads
    (
        "ALTER TABLE messages ADD COLUMN key_id text",
        "ALTER TABLE messages ADD COLUMN purged_at timestamptz",
        """CREATE TABLE attempt_payloads (
    delivery_id  text COLLATE "C" NOT NULL REFERENCES deliveries(id),
    number       integer NOT NULL,
    sent         bytea,
    response     bytea,
    key_id       text,
    PRIMARY KEY (delivery_id, number)
)""",
    ),
    # version 3 (SQLite version 6): the unique index on (message_id, route, destination)
    # serves the lookups of deliveries_message
    ("DROP INDEX IF EXISTS deliveries_message",),
    # version 4: the circuit breaker of each destination (issue 14 item 5)
    (
        """CREATE TABLE IF NOT EXISTS destination_status (
    destination    text PRIMARY KEY,
    state          text NOT NULL,
    failures       integer NOT NULL DEFAULT 0,
    opened_at      timestamptz,
    next_probe_at  timestamptz,
    last_error     text NOT NULL DEFAULT '',
    opens          integer NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL
)""",
    ),
    # version 5: the operator console (issue 13), see engine.store._pg_console_schema
    MIGRATION_V5,
)
SCHEMA_VERSION = len(MIGRATIONS)

MESSAGE_COLUMNS = (
    "id, channel, received_at, content_type, raw, metadata, state, reason, updated_at, key_id"
)
DELIVERY_COLUMNS = (
    "id, message_id, destination, route, state, attempts, last_error, next_attempt_at, "
    "created_at, updated_at, detail, order_key, released, attempts_at_replay, seq, "
    "claim_owner, claim_until"
)


def message_from_row(row: Sequence[Any], cipher: PayloadCipher = CLEAR) -> StoredMessage:
    """A message from a :data:`MESSAGE_COLUMNS` row, its payload opened with ``cipher``."""
    id_, channel, received_at, content_type, raw, metadata, state, reason, updated_at, key = row
    envelope = Envelope(
        id=id_,
        channel=channel,
        received_at=received_at,
        content_type=content_type,
        raw=cipher.open(bytes(raw), key, f"message {id_}"),
        metadata=metadata,
    )
    return StoredMessage(envelope, MessageState(state), reason, updated_at)


def delivery_from_row(row: Sequence[Any]) -> DeliveryRecord:
    (
        id_, message_id, destination, route, state, attempts, last_error, next_at, created,
        updated, detail, order_key, released, attempts_at_replay, seq, claim_owner, claim_until,
    ) = row  # fmt: skip
    return DeliveryRecord(
        id=id_,
        message_id=message_id,
        destination=destination,
        route=route,
        state=DeliveryState(state),
        attempts=attempts,
        last_error=last_error,
        next_attempt_at=next_at,
        created_at=created,
        updated_at=updated,
        detail=detail,
        order_key=order_key,
        released=released,
        attempts_at_replay=attempts_at_replay,
        seq=seq,
        claim_owner=claim_owner,
        claim_until=claim_until,
    )


def transition_from_row(row: Sequence[Any]) -> Transition:
    at, from_state, to_state, reason = row
    return Transition(
        at=at,
        from_state=MessageState(from_state) if from_state is not None else None,
        to_state=MessageState(to_state),
        reason=reason,
    )


def attempt_from_row(row: Sequence[Any]) -> Attempt:
    delivery_id, number, at, outcome, detail = row
    return Attempt(delivery_id, number, at, DeliveryState(outcome), detail)


async def migrate(conn: AsyncConnection[Any]) -> None:
    """Bring the database to :data:`SCHEMA_VERSION`, in one transaction, under an
    advisory lock (nodes starting together migrate once).

    Raises:
        StoreError: the database was written by a newer engine.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        row = await (await conn.execute("SELECT max(version) FROM schema_version")).fetchone()
        version = int(row[0]) if row and row[0] is not None else 0
        if version > SCHEMA_VERSION:
            raise StoreError(f"the database has schema {version}, newer than this engine")
        for step in MIGRATIONS[version:]:
            for statement in step:
                await conn.execute(statement)
        if version < SCHEMA_VERSION:
            await conn.execute("DELETE FROM schema_version")
            await conn.execute(
                "INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,)
            )
            log.info("Store schema migrated.", extra={"from": version, "to": SCHEMA_VERSION})


__all__ = [
    "DELIVERY_COLUMNS",
    "MESSAGE_COLUMNS",
    "MIGRATIONS",
    "MIGRATION_LOCK",
    "SCHEMA_VERSION",
    "attempt_from_row",
    "delivery_from_row",
    "message_from_row",
    "migrate",
    "transition_from_row",
]
