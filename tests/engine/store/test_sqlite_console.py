"""SQLite-only console behaviour: the append-only audit, schema migration with counter
backfill, and query plans that use indexes (plans, never timings)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.message import DeliveryState, MessageState
from engine.store import _sqlite_activity_sql as activity_sql
from engine.store import _sqlite_overview as overview
from engine.store import _sqlite_schema as schema
from engine.store import _sqlite_search as search
from engine.store.base import MessageQuery
from engine.store.console import ActivityBucket, AuditEntry, AuditQuery, NodeStatus
from engine.store.crypto import Keyring, PayloadCipher, new_key_line
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
        MessageQuery(destination="lab", delivery_state=DeliveryState.DEAD, before_id="01J"),
        ["deliveries_state (state=? AND message_id<?)", "(id=?)"],
    ),
    (
        MessageQuery(channel="a", delivery_state=DeliveryState.SENT),
        ["deliveries_state (state=?)", "id=?)"],
    ),
    (MessageQuery(destination="lab"), ["sqlite_autoindex_messages_1", "(message_id=?)"]),
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


async def test_the_payload_counter_follows_sealing_rotation_and_retention(tmp_path: Path) -> None:
    def actual(path: Path) -> int:
        with sqlite3.connect(path) as conn:
            (kept,) = conn.execute("SELECT bytes FROM payload_usage").fetchone()
            (rows,) = conn.execute(
                "SELECT coalesce(sum(coalesce(length(sent), 0) + coalesce(length(response), 0)),"
                " 0) FROM attempt_payloads"
            ).fetchone()
        assert kept == rows
        return int(kept)

    path = tmp_path / "store.db"
    clear = SqliteStore(path)
    await clear.open()
    try:
        for _ in range(3):
            _, (d,) = await routed(clear, "adt", [("lab", "r")])
            await clear.record_attempt(d.id, DeliveryState.SENT, "AA", sent=b"s" * 500)
        assert actual(path) == 1500
    finally:
        await clear.close()
    first, second = new_key_line(), new_key_line()
    sealed = SqliteStore(path, cipher=PayloadCipher(Keyring.parse(f"{second[1]}\n{first[1]}")))
    await sealed.open()
    try:
        assert await sealed.rotate_payloads() > 0
        assert actual(path) > 1500  # sealed payloads carry a nonce and a tag
        await asyncio.sleep(0.01)
        assert await sealed.purge_payloads(datetime.now(UTC), limit=1) == 1
        after_retention = actual(path)
        assert 0 < after_retention < 1500
        assert await sealed.purge_attempt_payloads(before=None, max_bytes=0) == 2
        assert actual(path) == 0
    finally:
        await sealed.close()


WINDOW = {"b": 60, "since": 0.0, "until": 60.0, "first": "01J", "last": "01K", "from_minute": 1}
OVERVIEW_PLANS = [
    (overview._NEWEST, ("a",), "messages_channel (channel=?)"),
    (overview._OLDEST_IN, ("a", "received"), "messages_channel_state (channel=? AND state=?)"),
    (overview._LAST_IN, ("a", "error"), "messages_channel_state (channel=? AND state=?)"),
    (overview._OLDEST_DELIVERY, ("lab", "pending"), "deliveries_destination (destination=?"),
    (activity_sql.CHANNEL_ROWS, WINDOW, "sqlite_autoindex_messages_1 (id>? AND id<?)"),
    (activity_sql.DESTINATION_ROWS, WINDOW, "attempts_at (at>? AND at<?)"),
    (activity_sql.MINUTES, WINDOW, "PRIMARY KEY (minute>?)"),
]


@pytest.mark.parametrize(("sql", "args", "expected"), OVERVIEW_PLANS)
async def test_overview_figures_seek_indexes_and_scan_no_table(
    store: SqliteStore, sql: str, args: tuple[str, ...] | dict[str, object], expected: str
) -> None:
    with sqlite3.connect(store.path) as conn:
        details = [str(r[3]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args)]
    assert any(expected in d for d in details), details
    assert not any(d.startswith("SCAN") and "INDEX" not in d for d in details), details


def same_buckets(a: list[ActivityBucket], b: list[ActivityBucket]) -> bool:
    def key(x: ActivityBucket) -> tuple[str, str, datetime, int, int]:
        return (x.kind, x.name, x.start, x.ok, x.failed)

    return [key(x) for x in a] == [key(x) for x in b] and all(
        abs(x.latency_sum - y.latency_sum) < 1e-6 for x, y in zip(a, b, strict=True)
    )


async def test_the_minute_counters_give_what_the_rows_give(store: SqliteStore) -> None:
    # Given a workload with failures, a release and a replay
    for n in range(4):
        _, ds = await routed(
            store,
            f"c{n % 2}",
            [("lab", "r1"), ("dmp", "r2")],
            [DeliveryState.SENT, [DeliveryState.RETRYING, DeliveryState.DEAD]],
        )
        if n == 1:
            await store.release_delivery(ds[1].id, "released")
    await failed(store, "c0", "E_ROUTE")
    env, _ = await routed(store, "c1", [("lab", "r1")], [DeliveryState.SENT])
    assert (await store.request_replay(env.id)).replayed
    # When the window starts on a whole minute (counters) or too long ago (rows only)
    now = datetime.now(UTC)
    aligned = now.replace(second=0, microsecond=0) - timedelta(minutes=2)
    counted = await store.activity(aligned, 60)
    from_rows = await store.activity(now - timedelta(days=40), 60)
    # Then both give the same buckets
    assert counted and same_buckets(counted, from_rows), (counted, from_rows)
    # retrying + dead for each of the 4 messages; the release is not a failure
    assert sum(b.failed for b in counted if b.kind == "destination") == 8


async def test_a_migrated_store_has_its_activity_backfilled(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    version_6_store(path)
    store = SqliteStore(path)
    await store.open()
    try:
        with sqlite3.connect(path) as conn:
            kept = conn.execute("SELECT count(*) FROM activity_minutes").fetchone()[0]
        assert kept > 0
        with sqlite3.connect(path) as conn:  # the backfilled counters
            minutes = conn.execute(
                "SELECT kind, name, minute * 60, ok, failed, latency FROM activity_minutes"
                " ORDER BY kind, name"
            ).fetchall()
        t = T0.timestamp()
        # adt: routed + received ok, one error; orders: one rejected; lab: the dead attempt
        # (its release note is no failure); dmp: one sent, 30 s after the receipt
        assert minutes == [
            ("channel", "adt", t, 2, 1, 0.5), ("channel", "orders", t, 0, 1, 0.0),
            ("destination", "dmp", t, 1, 0, 30.0), ("destination", "lab", t, 0, 1, 0.0),
        ]  # fmt: skip
    finally:
        await store.close()


async def test_the_heartbeat_trims_activity_older_than_a_month(store: SqliteStore) -> None:
    now = datetime.now(UTC)
    old, recent = int((now - timedelta(days=40)).timestamp() // 60), int(now.timestamp() // 60)
    with sqlite3.connect(store.path) as conn:
        conn.executemany(
            "INSERT INTO activity_minutes VALUES (?, 'channel', 'adt', 1, 0, 0)",
            [(old,), (recent,)],
        )
    await store.save_node_status(NodeStatus("n1", 1, now, now))
    with sqlite3.connect(store.path) as conn:
        kept = [r[0] for r in conn.execute("SELECT minute FROM activity_minutes")]
    assert kept == [recent]
