"""SQLite-only behaviour: visibility to another connection, fsync levels, migrations."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from engine.errors import StoreError
from engine.message import HL7V2, DeliveryState, Envelope, MessageState, utcnow
from engine.store import _sqlite_schema as schema
from engine.store.base import RoutingOutcome
from engine.store.sqlite import SqliteStore
from tests.engine.store.test_contract_retention import envelope as sized
from tests.engine.store.test_contract_retention import routed


def envelope(control_id: str = "C1") -> Envelope:
    return Envelope.new(
        channel="mllp_in",
        raw=b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|" + control_id.encode() + b"|P|2.5\r",
        content_type=HL7V2,
        metadata={"hl7.control_id": control_id},
    )


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = SqliteStore(tmp_path / "store.db")
    await s.open()
    yield s
    await s.close()


async def test_accept_is_visible_to_an_independent_connection_when_it_returns(
    store: SqliteStore,
) -> None:
    # Given a new message, When accept returns, Then another process's connection sees it
    env = envelope()
    await store.accept(env)
    with sqlite3.connect(store.path) as other:
        row = other.execute("SELECT raw, state FROM messages WHERE id=?", (env.id,)).fetchone()
    assert row == (env.raw, "received")


async def test_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError):
        await SqliteStore(blocker / "sub" / "s.db").open()


async def test_bookkeeping_batches_skip_the_fsync_and_durable_ones_restore_it(
    store: SqliteStore,
) -> None:
    # Given a routed message, When only bookkeeping is written, Then the writer's
    # connection runs at NORMAL; an intake right after brings it back to FULL.
    env = envelope("D1")
    await store.accept(env)
    await store.start_processing(env.id)
    assert store._writer._level == "NORMAL"
    await store.accept(envelope("D2"))
    assert store._writer._level == "FULL"
    # and the bookkeeping is there, committed, for any reader
    assert (await store.get_message(env.id)).state is MessageState.PROCESSING


async def test_a_version_1_store_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(schema.DDL_V1)
        conn.execute(
            "INSERT INTO messages VALUES ('M1','in',1.0,'x',x'00','{}',NULL,'routed','',1.0)"
        )
        conn.execute(
            "INSERT INTO deliveries (id, message_id, destination, route, state, created_at,"
            " updated_at) VALUES ('D1','M1','a','r','dead',1.0,1.0)"
        )
        conn.execute("PRAGMA user_version = 1")
    s = SqliteStore(path)
    await s.open()
    try:
        d = await s.get_delivery("D1")
        assert (d.state, d.order_key, d.released, d.attempts_at_replay) == (
            DeliveryState.DEAD,
            None,
            False,
            0,
        )
        assert (await s.request_replay("M1")).replayed
    finally:
        await s.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 7
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"deliveries_order", "messages_intake_key"} <= indexes


async def test_a_version_3_store_gets_one_delivery_per_route_and_keeps_its_attempts(
    tmp_path: Path,
) -> None:
    # Given a store written by the version 3 engine (deliveries unique per destination)
    path = tmp_path / "v3.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(schema.DDL_V1)
        for version in (2, 3):
            for statement in schema.MIGRATIONS[version]:
                conn.execute(statement)
        conn.execute(
            "INSERT INTO messages (id, channel, received_at, content_type, raw, metadata,"
            " state, updated_at) VALUES ('M1','in',1.0,'x',x'00','{}','routed',1.0)"
        )
        conn.execute(
            "INSERT INTO deliveries (id, message_id, destination, route, state, attempts,"
            " created_at, updated_at, order_key) VALUES ('D1','M1','a','r1','dead',2,1.0,1.0,'K')"
        )
        conn.execute(
            "INSERT INTO attempts (delivery_id, number, at, outcome, detail)"
            " VALUES ('D1', 2, 1.0, 'dead', 'refused')"
        )
        conn.execute("PRAGMA user_version = 3")
    s = SqliteStore(path)
    await s.open()
    try:
        d = await s.get_delivery("D1")
        assert (d.state, d.attempts, d.order_key, d.seq, d.claim_owner) == (
            DeliveryState.DEAD, 2, "K", 0, None,
        )  # fmt: skip
        assert [a.detail for a in await s.attempts("D1")] == ["refused"]
        # When it is replayed to two routes sending to 'a'
        assert (await s.request_replay("M1")).replayed
        await s.start_processing("M1")
        pairs = [("a", "r1"), ("a", "r2")]
        pending = await s.finish_routing("M1", RoutingOutcome(MessageState.ROUTED, "r", pairs))
        # Then the old delivery is reset for r1 and r2 gets its own
        assert [(p.id == "D1", p.route, p.seq) for p in pending] == [
            (True, "r1", 0), (False, "r2", 1),
        ]  # fmt: skip
    finally:
        await s.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


async def test_a_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer than this engine"):
        await SqliteStore(path).open()


async def test_retention_gives_the_space_back_and_it_is_reused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    try:
        start = pages(store)
        for _ in range(60):
            await routed(store, sized(size=20_000), DeliveryState.SENT)
        full = pages(store)
        await asyncio.sleep(0.01)
        assert await store.purge_payloads(utcnow(), limit=1000) == 60
        emptied = pages(store)
        assert emptied[0] < full[0] / 2 and emptied[1] == 0  # pages returned, none free
        for _ in range(60):
            await routed(store, sized(size=20_000), DeliveryState.SENT)
        # the new payloads take what the old ones took: the file holds metadata + one load
        # (the margin: rows and index entries of the 60 more messages)
        assert pages(store)[0] - emptied[0] <= full[0] - start[0] + 16
    finally:
        await store.close()


def pages(store: SqliteStore) -> tuple[int, int]:
    with sqlite3.connect(store.path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        count = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int(count), int(free)
