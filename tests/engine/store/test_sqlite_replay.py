"""The SQLite store's ordering, replay and release operations, and the migrations."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from engine.errors import StoreError
from engine.message import HL7V2, DeliveryState, Envelope, MessageState, utcnow
from engine.store import _sqlite_schema as schema
from engine.store.base import DeliveryRecord, MessageQuery, RoutingOutcome
from engine.store.sqlite import SqliteStore


def envelope(tag: str = "C1") -> Envelope:
    return Envelope.new(channel="in", raw=f"MSH|{tag}".encode(), content_type=HL7V2)


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = SqliteStore(tmp_path / "store.db")
    await s.open()
    yield s
    await s.close()


async def routed(
    store: SqliteStore, dests: list[str], key: str | None = "K", env: Envelope | None = None
) -> list[DeliveryRecord]:
    env = env or envelope()
    await store.accept(env)
    await store.start_processing(env.id)
    keys = {d: key for d in dests} if key else {}
    outcome = RoutingOutcome(MessageState.ROUTED, "r", [(d, "r") for d in dests], keys)
    return await store.finish_routing(env.id, outcome)


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
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 4
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
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


async def test_a_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer than this engine"):
        await SqliteStore(path).open()


async def test_the_earliest_holder_of_a_key_blocks_the_later_ones(store: SqliteStore) -> None:
    (first,) = await routed(store, ["a"])
    (second,) = await routed(store, ["a"])
    (other_key,) = await routed(store, ["a"], key="L")
    (unordered,) = await routed(store, ["a"], key=None)
    assert await store.order_blocker(first) is None
    blocker = await store.order_blocker(second)
    assert blocker is not None and (blocker.delivery_id, blocker.state) == (first.id, "pending")
    assert await store.order_blocker(other_key) is None
    assert await store.order_blocker(unordered) is None
    runnable = await store.runnable(utcnow())
    assert [d for d, _ in runnable.deliveries] == [first.id, other_key.id, unordered.id]
    # dead: still holds the key; released: lets the next one go
    await store.record_attempt(first.id, DeliveryState.DEAD, "refused")
    assert (await store.order_blocker(second)).state == "dead"  # type: ignore[union-attr]
    assert await store.next_in_order("a", "K") is None
    released = await store.release_delivery(first.id, "released by operator")
    assert released.released and released.state is DeliveryState.DEAD
    assert await store.order_blocker(second) is None
    head = await store.next_in_order("a", "K")
    assert head is not None and head.id == second.id
    notes = [(a.outcome, a.detail) for a in await store.attempts(first.id)]
    assert notes[-1] == (DeliveryState.DEAD, "released by operator")


async def test_an_unrouted_earlier_message_with_the_same_key_is_a_barrier(
    store: SqliteStore,
) -> None:
    earlier = envelope("EARLY")
    await store.accept(earlier)  # received, not routed yet
    (later,) = await routed(store, ["a"])
    assert await store.order_blocker(later) is None  # no key function: deliveries only
    blocker = await store.order_blocker(later, lambda e: "K" if e.raw == b"MSH|EARLY" else None)
    assert blocker is not None and (blocker.message_id, blocker.delivery_id) == (earlier.id, None)
    assert await store.order_blocker(later, lambda e: "other") is None


async def test_runnable_skips_future_retries_and_lists_unrouted_messages(
    store: SqliteStore,
) -> None:
    (d,) = await routed(store, ["a"], key=None)
    later = utcnow() + timedelta(seconds=60)
    await store.record_attempt(d.id, DeliveryState.RETRYING, "503", next_attempt_at=later)
    waiting = envelope()
    await store.accept(waiting)
    work = await store.runnable(utcnow())
    assert work.message_ids == [waiting.id] and work.deliveries == []
    assert [i for i, _ in (await store.runnable(later + timedelta(seconds=1))).deliveries] == [d.id]


async def test_replay_reroutes_and_resets_dead_deliveries_with_a_fresh_budget(
    store: SqliteStore,
) -> None:
    env = envelope()
    a, b, c = await routed(store, ["a", "b", "c"], env=env)
    for _ in range(3):
        await store.record_attempt(a.id, DeliveryState.RETRYING, "503")
    await store.record_attempt(a.id, DeliveryState.DEAD, "gave up")
    await store.record_attempt(b.id, DeliveryState.SENT, "ok")
    await store.record_attempt(c.id, DeliveryState.DEAD, "refused")
    result = await store.request_replay(env.id)
    assert result.replayed and result.note == "routed → received"
    assert (await store.get_message(env.id)).state is MessageState.RECEIVED
    # routed again: now to a, b and d (c is not named any more)
    await store.start_processing(env.id)
    outcome = RoutingOutcome(
        MessageState.ROUTED, "r2", [("a", "r2"), ("b", "r2"), ("d", "r2")], {"a": "K2"}
    )
    pending = await store.finish_routing(env.id, outcome)
    assert sorted(p.destination for p in pending) == ["a", "d"]
    a2 = await store.get_delivery(a.id)
    assert (a2.state, a2.route, a2.order_key, a2.attempts, a2.attempts_at_replay) == (
        DeliveryState.PENDING,
        "r2",
        "K2",
        4,
        4,
    )
    assert (await store.get_delivery(b.id)).state is DeliveryState.SENT  # not resent
    c2 = await store.get_delivery(c.id)
    assert (c2.state, c2.released, c2.last_error) == (
        DeliveryState.DEAD,
        True,
        "superseded by replay: the new routing does not send here",
    )
    assert (await store.attempts(a.id))[-1].detail == "replayed by operator"
    history = [(t.from_state, t.to_state, t.reason) for t in await store.history(env.id)]
    assert (MessageState.ROUTED, MessageState.RECEIVED, "replayed by operator") in history
    assert history[-1][1] is MessageState.ROUTED


async def test_replay_scoped_to_a_destination_with_resend(store: SqliteStore) -> None:
    env = envelope()
    a, b = await routed(store, ["a", "b"], env=env)
    await store.record_attempt(a.id, DeliveryState.SENT, "ok")
    await store.record_attempt(b.id, DeliveryState.DEAD, "refused")
    await store.request_replay(env.id, destination="a", resend_sent=True)
    await store.start_processing(env.id)
    outcome = RoutingOutcome(MessageState.ROUTED, "r", [("a", "r"), ("b", "r")], {"a": "K"})
    pending = await store.finish_routing(env.id, outcome)
    assert [p.destination for p in pending] == ["a"]
    assert (await store.get_delivery(b.id)).state is DeliveryState.DEAD  # out of scope
    reason = (await store.attempts(a.id))[-1].detail
    assert reason == "replayed by operator (destination a), resending sent deliveries"


async def test_replay_leaves_unfinished_and_rejected_messages_alone(store: SqliteStore) -> None:
    waiting, refused = envelope("W"), envelope("R")
    await store.accept(waiting)
    await store.reject(refused, "not HL7")
    assert (await store.request_replay(waiting.id)).note == "still in progress (received)"
    skipped = await store.request_replay(refused.id)
    assert not skipped.replayed and "rejected at intake" in skipped.note
    (d,) = await routed(store, ["a"])
    with pytest.raises(StoreError, match="not dead"):
        await store.release_delivery(d.id, "x")


async def test_message_ids_selects_oldest_first_without_limit(store: SqliteStore) -> None:
    firsts = [(await routed(store, ["a"], key=None))[0] for _ in range(3)]
    await store.record_attempt(firsts[1].id, DeliveryState.DEAD, "x")
    dead = MessageQuery(destination="a", delivery_state=DeliveryState.DEAD, limit=None)
    assert await store.message_ids(dead) == [firsts[1].message_id]
    everything = await store.message_ids(MessageQuery(limit=None))
    assert everything == [d.message_id for d in firsts]
