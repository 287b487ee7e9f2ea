"""Store contract: durability, transitions, deliveries, recovery (every backend)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from engine.errors import NotFound, StoreError
from engine.message import HL7V2, DeliveryState, Envelope, MessageState, utcnow
from engine.store.base import MessageQuery, RoutingOutcome, Store
from engine.store.postgres import PostgresStore
from engine.store.sqlite import SqliteStore
from tests.engine.store.conftest import StoreFactory, reopened


def envelope(control_id: str = "C1", channel: str = "mllp_in") -> Envelope:
    return Envelope.new(
        channel=channel,
        raw=b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|" + control_id.encode() + b"|P|2.5\r",
        content_type=HL7V2,
        metadata={"hl7.control_id": control_id},
    )


async def test_raw_bytes_and_metadata_round_trip_unchanged(store: Store) -> None:
    raw = bytes(range(256)) * 3
    env = Envelope.new(
        channel="c", raw=raw, content_type="application/octet-stream", metadata={"k": "é"}
    )
    await store.accept(env)
    got = await store.get_message(env.id)
    assert got.envelope.raw == raw
    assert dict(got.envelope.metadata) == {"k": "é"}
    assert got.envelope.received_at == env.received_at
    assert got.state is MessageState.RECEIVED


async def test_concurrent_accepts_share_commits(store: Store) -> None:
    # Given 200 concurrent intakes, Then all are stored and fewer commits than messages ran
    envs = [envelope(f"C{i}") for i in range(200)]
    await asyncio.gather(*(store.accept(e) for e in envs))
    assert isinstance(store, SqliteStore | PostgresStore)
    batches, operations = store.commit_stats
    assert operations == 200
    assert batches < 200
    counts = await store.count_by_state()
    assert counts[MessageState.RECEIVED] == 200


async def test_duplicate_id_fails_alone_without_losing_the_batch(store: Store) -> None:
    first = envelope("A")
    await store.accept(first)
    others = [envelope(f"B{i}") for i in range(5)]
    results = await asyncio.gather(
        store.accept(first), *(store.accept(e) for e in others), return_exceptions=True
    )
    assert isinstance(results[0], StoreError)
    assert results[1:] == [None] * 5
    for e in others:
        assert (await store.get_message(e.id)).state is MessageState.RECEIVED


async def test_routing_records_transitions_and_deliveries_idempotently(store: Store) -> None:
    env = envelope()
    await store.accept(env)
    assert (await store.start_processing(env.id)) is not None
    outcome = RoutingOutcome(MessageState.ROUTED, "matched route 'r'", [("a", "r"), ("b", "r")])
    first = await store.finish_routing(env.id, outcome)
    again = await store.finish_routing(env.id, outcome)  # a re-run after a crash
    assert [d.destination for d in first] == [d.destination for d in again] == ["a", "b"]
    assert {d.id for d in first} == {d.id for d in again}
    history = await store.history(env.id)
    assert [(t.from_state, t.to_state) for t in history] == [
        (None, MessageState.RECEIVED),
        (MessageState.RECEIVED, MessageState.PROCESSING),
        (MessageState.PROCESSING, MessageState.ROUTED),
    ]
    assert (await store.start_processing(env.id)) is None  # finished: nothing to do


async def test_delivery_attempts_retry_then_dead_and_requeue(store: Store) -> None:
    env = envelope()
    await store.accept(env)
    await store.start_processing(env.id)
    (d,) = await store.finish_routing(
        env.id, RoutingOutcome(MessageState.ROUTED, "r", [("a", "r")])
    )
    later = utcnow() + timedelta(seconds=30)
    d1 = await store.record_attempt(d.id, DeliveryState.RETRYING, "timeout", next_attempt_at=later)
    assert (d1.state, d1.attempts, d1.last_error) == (DeliveryState.RETRYING, 1, "timeout")
    assert (
        d1.next_attempt_at is not None and abs((d1.next_attempt_at - later).total_seconds()) < 1e-3
    )
    d2 = await store.record_attempt(d.id, DeliveryState.DEAD, "refused: AE")
    assert (d2.state, d2.attempts, d2.last_error) == (DeliveryState.DEAD, 2, "refused: AE")
    d3 = await store.requeue_delivery(d.id, "replay by operator")
    assert d3.state is DeliveryState.PENDING and d3.attempts == 2
    d4 = await store.record_attempt(d.id, DeliveryState.SENT, "/out/x.hl7", dedupe_key="K")
    assert (d4.state, d4.detail, d4.last_error) == (DeliveryState.SENT, "/out/x.hl7", "refused: AE")
    assert [a.outcome for a in await store.attempts(d.id)] == [
        DeliveryState.RETRYING,
        DeliveryState.DEAD,
        DeliveryState.PENDING,
        DeliveryState.SENT,
    ]
    assert await store.was_delivered("a", "K")
    assert not await store.was_delivered("b", "K")


async def test_unfinished_survives_reopen(store_factory: StoreFactory) -> None:
    # Given work in every unfinished state, When the store is closed and reopened
    s = store_factory()
    await s.open()
    received, processing, routed = envelope("1"), envelope("2"), envelope("3")
    for e in (received, processing, routed):
        await s.accept(e)
    await s.start_processing(processing.id)
    await s.start_processing(routed.id)
    (d,) = await s.finish_routing(routed.id, RoutingOutcome(MessageState.ROUTED, "r", [("a", "r")]))
    await s.close()
    s2 = reopened(s)
    await s2.open()
    try:
        # Then the unfinished messages and the pending delivery are all listed
        todo = await s2.unfinished()
        assert todo.message_ids == sorted([received.id, processing.id])
        assert [i for i, _ in todo.deliveries] == [d.id]
        resumed = await s2.start_processing(processing.id)
        assert resumed is not None and resumed.reason == "resumed after restart"
    finally:
        await s2.close()


async def test_list_messages_filters(store: Store) -> None:
    a, b, c = envelope("1", "x"), envelope("2", "y"), envelope("3", "x")
    for e in (a, b, c):
        await store.accept(e)
    refused = envelope("4", "x")
    await store.reject(refused, "not HL7")
    xs = await store.list_messages(MessageQuery(channel="x"))
    assert [m.envelope.id for m in xs] == [refused.id, c.id, a.id]  # newest first
    rejected = await store.list_messages(MessageQuery(state=MessageState.REJECTED))
    assert len(rejected) == 1 and rejected[0].reason == "not HL7"
    assert [m.envelope.id for m in await store.list_messages(MessageQuery(control_id="2"))] == [
        b.id
    ]
    assert len(await store.list_messages(MessageQuery(limit=2))) == 2


async def test_unknown_ids_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_message("nope")
    with pytest.raises(NotFound):
        await store.get_delivery("nope")
    with pytest.raises(NotFound):
        await store.history("nope")


async def test_closed_store_refuses_writes(store_factory: StoreFactory) -> None:
    s = store_factory()
    await s.open()
    await s.close()
    with pytest.raises(StoreError):
        await s.accept(envelope())


async def test_intake_keys_find_what_a_channel_committed_by_prefix(store: Store) -> None:
    # Given documents of two mails committed by a mailbox channel, one by another channel
    def doc(channel: str, key: str) -> Envelope:
        return Envelope.new(
            channel=channel, raw=b"<x/>", content_type="application/xml",
            metadata={"intake.key": key},
        )  # fmt: skip

    for channel, key in [("mss", "<m1@a>#1.2.3"), ("mss", "<m1@a>#1.2.4"),
                         ("mss", "<m10@a>#9"), ("other", "<m1@a>#1.2.5")]:  # fmt: skip
        await store.accept(doc(channel, key))
    await store.reject(doc("mss", "<m2@a>#refused"), "zip bomb")
    # Then a prefix lookup returns exactly that mail's keys on that channel
    assert await store.intake_keys("mss", "<m1@a>#") == {"<m1@a>#1.2.3", "<m1@a>#1.2.4"}
    assert await store.intake_keys("mss", "<m2@a>#") == {"<m2@a>#refused"}
    assert await store.intake_keys("mss", "<m3@a>#") == set()
