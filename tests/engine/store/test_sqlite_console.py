"""SQLite-only console behaviour: the append-only audit, schema migration with counter
backfill, and query plans that use indexes (plans, never timings)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.message import DeliveryState, MessageState
from engine.store import _sqlite_schema as schema
from engine.store import _sqlite_search as search
from engine.store.base import MessageQuery
from engine.store.console import AuditEntry, AuditQuery
from engine.store.sqlite import SqliteStore
from tests.engine.store.console_data import failed, routed

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = SqliteStore(tmp_path / "store.db")
    await s.open()
    yield s
    await s.close()


async def test_audit_rows_can_be_neither_updated_nor_deleted(store: SqliteStore) -> None:
    # Given an audited act
    await store.append_audit(AuditEntry(T0, "alice", "replay", "M1", "ok"))
    # When anyone with the file tries to rewrite or erase it, Then SQLite refuses
    with sqlite3.connect(store.path) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit SET outcome='denied'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit")
    (entry,) = await store.audit_entries(AuditQuery())
    assert entry.outcome == "ok"


PLANS = [
    (MessageQuery(before_id="01J"), ["SEARCH m USING COVERING INDEX sqlite_autoindex_messages_1"]),
    (MessageQuery(channel="a", before_id="01J"), ["messages_channel (channel=? AND id<?)"]),
    (
        MessageQuery(channel="a", state=MessageState.ERROR, before_id="01J"),
        ["messages_channel_state (channel=? AND state=? AND id<?)"],
    ),
    (MessageQuery(state=MessageState.ERROR), ["messages_state (state=?)"]),
    (
        MessageQuery(patient_key=b"P" * 17, before_id="01J"),
        ["SEARCH p USING PRIMARY KEY (key=? AND message_id<?)", "(id=?)"],
    ),
    (
        MessageQuery(channels=("a", "b"), state=MessageState.ERROR),
        ["messages_channel_state (channel=? AND state=?)"] * 2,
    ),
    (MessageQuery(since=T0), ["sqlite_autoindex_messages_1 (id>?)"]),
    (
        MessageQuery(destination="lab", delivery_state=DeliveryState.DEAD),
        ["sqlite_autoindex_messages_1", "(message_id=?)"],
    ),
    (MessageQuery(route="r", before_id="01J"), ["(id<?)", "(message_id=? AND route=?)"]),
]


@pytest.mark.parametrize(("query", "expected"), PLANS)
async def test_message_search_walks_an_index_in_id_order(
    store: SqliteStore, query: MessageQuery, expected: list[str]
) -> None:
    # the plans, not timings: each search seeks an index in id order, never sorts
    with sqlite3.connect(store.path) as conn:
        details = search.plan(conn, query)
    assert not any("TEMP B-TREE" in d or d.startswith("SCAN d") for d in details), details
    for fragment in expected:
        assert any(fragment in d for d in details), (fragment, details)
    searches = [d for d in details if "USING" in d]
    assert all("INDEX" in d or "PRIMARY KEY" in d for d in searches), details


def version_6_store(path: Path) -> None:
    """A store as schema 6 left it, with messages, deliveries and attempts."""
    steps = [schema.DDL_V1] + [
        f"{s};" for v in range(2, 7) for s in schema.MIGRATIONS[v]
    ]  # fmt: skip
    with sqlite3.connect(path) as conn:
        conn.executescript("\n".join(steps) + "\nPRAGMA user_version = 6;")
        t = T0.timestamp()
        messages = [
            ("01A", "adt", "routed", ""), ("01B", "adt", "error", "E_ROUTE"),
            ("01C", "adt", "received", ""), ("01D", "orders", "rejected", "E_MSH"),
        ]  # fmt: skip
        for n, (id_, channel, state, reason) in enumerate(messages):
            conn.execute(
                "INSERT INTO messages (id, channel, received_at, content_type, raw, metadata,"
                " state, reason, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (id_, channel, t + n, "x", b"MSH|", "{}", state, reason, t + n + 0.5),
            )
        for id_, dest, route, state in [("D1", "lab", "r1", "dead"), ("D2", "dmp", "r2", "sent")]:
            conn.execute(
                "INSERT INTO deliveries (id, message_id, destination, route, state, created_at,"
                " updated_at, attempts) VALUES (?, '01A', ?, ?, ?, ?, ?, 1)",
                (id_, dest, route, state, t, t),
            )
        conn.executemany(
            "INSERT INTO attempts (delivery_id, number, at, outcome, detail) VALUES (?,?,?,?,?)",
            [("D1", 1, t + 10, "dead", "E_PEER 500"), ("D1", 1, t + 20, "dead", "released"),
             ("D2", 1, t + 30, "sent", "AA")],
        )  # fmt: skip


async def test_a_version_6_store_is_migrated_and_its_counters_backfilled(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    version_6_store(path)
    store = SqliteStore(path)
    await store.open()
    try:
        adt, orders = await store.channel_summaries()
        assert dict(adt.counts) == {
            MessageState.ROUTED: 1, MessageState.ERROR: 1, MessageState.RECEIVED: 1
        }  # fmt: skip
        assert adt.oldest_waiting_at == T0 + timedelta(seconds=2)
        assert (adt.last_error, orders.last_error) == ("E_ROUTE", "E_MSH")
        dmp, lab = await store.destination_summaries()
        assert dict(lab.counts) == {DeliveryState.DEAD: 1} and lab.last_sent_at is None
        # the release note is not the last failure
        assert (lab.last_error, lab.last_error_at) == ("E_PEER 500", T0 + timedelta(seconds=10))
        assert dmp.last_sent_at == T0 + timedelta(seconds=30) and dmp.last_error == ""
        assert await store.route_counts() == {"r1": 1, "r2": 1}
        # and the counters follow new writes
        await store.start_processing("01C")
        await store.fail_message("01C", "E_MAP")
        adt, _ = await store.channel_summaries()
        assert adt.counts[MessageState.ERROR] == 2 and adt.oldest_waiting_at is None
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION


async def test_counters_equal_the_rows_after_a_mixed_workload(store: SqliteStore) -> None:
    for n in range(6):
        _, ds = await routed(
            store,
            f"c{n % 2}",
            [("lab", "r1"), ("dmp", "r2")],
            [DeliveryState.SENT, [DeliveryState.RETRYING, DeliveryState.DEAD]],
        )
        if n % 3 == 0:
            await store.requeue_delivery(ds[1].id, "again")
    await failed(store, "c0", "E")
    await store.add_patient_keys("nope", [])  # no keys: nothing written
    with sqlite3.connect(store.path) as conn:
        for counters, table, key in [
            ("channel_counts", "messages", "channel"),
            ("destination_counts", "deliveries", "destination"),
        ]:
            kept = set(conn.execute(f"SELECT {key}, state, n FROM {counters} WHERE n > 0"))
            rows = set(conn.execute(f"SELECT {key}, state, count(*) FROM {table} GROUP BY 1, 2"))
            assert kept == rows
        kept = set(conn.execute("SELECT route, n FROM route_counts"))
        assert kept == set(conn.execute("SELECT route, count(*) FROM deliveries GROUP BY 1"))
