"""Store contract (console): channel and destination summaries, route counts and
activity buckets, on every backend. The figures follow every state change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.message import DeliveryState, MessageState
from engine.store.base import RoutingOutcome, Store
from tests.engine.store.console_data import failed, finished, processing, received, rejected
from tests.engine.store.console_data import routed as route

PENDING, RETRYING, SENT, DEAD = (
    DeliveryState.PENDING, DeliveryState.RETRYING, DeliveryState.SENT, DeliveryState.DEAD,
)  # fmt: skip
MS = timedelta(milliseconds=1)


def near(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and b is not None and abs(a - b) < MS


async def test_channel_summaries_count_states_and_point_at_waiting_and_failed(
    store: Store,
) -> None:
    assert await store.channel_summaries() == []
    oldest = await received(store, "adt")
    await processing(store, "adt")
    await route(store, "adt", [("lab", "r1")])
    await route(store, "adt", [("lab", "r1")])
    await finished(store, "adt", MessageState.FILTERED)
    await failed(store, "adt", "E_ROUTE r1")
    before = datetime.now(UTC)
    newest = await rejected(store, "adt", "E_VALIDATION MSH-9")
    await finished(store, "orders", MessageState.UNMATCHED)
    adt, orders = await store.channel_summaries()
    assert adt.channel == "adt" and orders.channel == "orders"
    assert dict(adt.counts) == {
        MessageState.RECEIVED: 1, MessageState.PROCESSING: 1, MessageState.ROUTED: 2,
        MessageState.FILTERED: 1, MessageState.ERROR: 1, MessageState.REJECTED: 1,
    }  # fmt: skip
    assert near(adt.oldest_waiting_at, oldest.received_at)
    assert near(adt.last_received_at, newest.received_at)
    assert adt.last_error == "E_VALIDATION MSH-9"
    assert adt.last_error_at is not None and adt.last_error_at >= before - MS
    assert dict(orders.counts) == {MessageState.UNMATCHED: 1}
    assert (orders.oldest_waiting_at, orders.last_error, orders.last_error_at) == (None, "", None)
    # When the oldest waiting message fails (it is older than the rejected one)
    await store.start_processing(oldest.id)
    await store.fail_message(oldest.id, "E_MAPPING m1")
    adt, _ = await store.channel_summaries()
    assert adt.counts.get(MessageState.RECEIVED, 0) == 0
    assert adt.counts[MessageState.ERROR] == 2
    assert adt.oldest_waiting_at is not None and adt.oldest_waiting_at > oldest.received_at
    # the newest failed message is the rejected one (by id): its reason stays
    assert adt.last_error == "E_VALIDATION MSH-9"
    assert await store.count_by_state() == {
        MessageState.PROCESSING: 1, MessageState.ROUTED: 2, MessageState.FILTERED: 1,
        MessageState.ERROR: 2, MessageState.REJECTED: 1, MessageState.UNMATCHED: 1,
    }  # fmt: skip


async def test_destination_summaries_count_deliveries_and_keep_the_last_failure(
    store: Store,
) -> None:
    assert await store.destination_summaries() == []
    _, (waiting,) = await route(store, "adt", [("lab", "to_lab")])
    await route(store, "adt", [("lab", "to_lab"), ("dmp", "to_dmp")], [SENT, RETRYING])
    _, (dead,) = await route(store, "adt", [("lab", "to_lab")], [[RETRYING, DEAD]])
    after_dead = datetime.now(UTC)
    dmp, lab = await store.destination_summaries()
    assert (dmp.destination, lab.destination) == ("dmp", "lab")
    assert dict(lab.counts) == {PENDING: 1, SENT: 1, DEAD: 1}
    assert dict(dmp.counts) == {RETRYING: 1}
    assert near(lab.oldest_waiting_at, waiting.created_at)
    assert lab.last_error == "E_PEER lab" and lab.last_error_at is not None
    assert lab.last_error_at <= after_dead and lab.last_sent_at is not None
    assert lab.last_sent_at < lab.last_error_at
    assert dmp.last_error == "E_PEER dmp" and dmp.last_sent_at is None
    assert dmp.oldest_waiting_at is not None
    # an operator's release is recorded beside the attempts but is not a failure
    await store.release_delivery(dead.id, "released by operator")
    (_, lab_after) = await store.destination_summaries()
    assert (lab_after.last_error, lab_after.last_error_at) == (lab.last_error, lab.last_error_at)
    # a requeued delivery counts as pending again; a sent one ends the backlog
    await store.requeue_delivery(dead.id, "replayed by operator")
    await store.record_attempt(waiting.id, SENT, "AA")
    (_, lab) = await store.destination_summaries()
    assert dict(lab.counts) in ({PENDING: 1, SENT: 2}, {PENDING: 1, SENT: 2, DEAD: 0})
    assert lab.oldest_waiting_at is not None and lab.oldest_waiting_at > waiting.created_at
    assert lab.last_sent_at is not None and lab.last_sent_at > lab.last_error_at  # type: ignore[operator]
    assert await store.route_counts() == {"to_dmp": 1, "to_lab": 3}
    counts = await store.delivery_counts()
    assert counts["lab"][PENDING] == 1 and counts["dmp"] == {RETRYING: 1}


async def test_a_replayed_message_moves_between_the_counts(store: Store) -> None:
    env, (d,) = await route(store, "adt", [("lab", "to_lab")], [[RETRYING, DEAD]])
    assert (await store.request_replay(env.id)).replayed
    (adt,) = await store.channel_summaries()
    assert adt.counts.get(MessageState.ROUTED, 0) == 0
    assert adt.counts[MessageState.RECEIVED] == 1 and near(adt.oldest_waiting_at, env.received_at)
    await store.start_processing(env.id)
    await store.finish_routing(
        env.id, RoutingOutcome(MessageState.ROUTED, "again", [("lab", "to_lab")])
    )
    (adt,) = await store.channel_summaries()
    assert dict(adt.counts) in ({MessageState.ROUTED: 1}, {MessageState.ROUTED: 1,
                                MessageState.RECEIVED: 0, MessageState.PROCESSING: 0})  # fmt: skip
    (lab,) = await store.destination_summaries()
    assert lab.counts[PENDING] == 1 and lab.counts.get(DEAD, 0) == 0
    assert await store.route_counts() == {"to_lab": 1}
    assert d.id


async def test_activity_counts_the_window_per_bucket(store: Store) -> None:
    await route(store, "adt", [("lab", "to_lab")], [SENT])  # before the window
    since = datetime.now(UTC)
    for _ in range(3):
        await route(store, "adt", [("lab", "to_lab")], [SENT])
    await failed(store, "adt", "E_ROUTE")
    await rejected(store, "orders", "E_VALIDATION")
    _, (dead,) = await route(store, "orders", [("dmp", "to_dmp")], [[RETRYING, DEAD]])
    await store.release_delivery(dead.id, "released by operator")  # not a failure
    buckets = await store.activity(since, 60)
    assert buckets == sorted(buckets, key=lambda b: b.start)
    assert all(b.start.timestamp() % 60 == 0 and b.start >= since - timedelta(minutes=1)
               for b in buckets)  # fmt: skip

    def total(kind: str, name: str) -> tuple[int, int, float]:
        mine = [b for b in buckets if (b.kind, b.name) == (kind, name)]
        return (sum(b.ok for b in mine), sum(b.failed for b in mine),
                sum(b.latency_sum for b in mine))  # fmt: skip

    adt = total("channel", "adt")
    assert adt[:2] == (3, 1) and adt[2] >= 0
    assert total("channel", "orders")[:2] == (1, 1)
    lab = total("destination", "lab")
    assert lab[:2] == (3, 0) and lab[2] > 0
    assert total("destination", "dmp")[:2] == (0, 2)
    assert {b.kind for b in buckets} == {"channel", "destination"}
    # an empty window
    assert await store.activity(datetime.now(UTC) + timedelta(hours=1), 60) == []


@pytest.mark.parametrize("bucket", [1, 3600])
async def test_activity_buckets_are_aligned_on_their_size(store: Store, bucket: int) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    await route(store, "adt", [("lab", "to_lab")], [SENT])
    buckets = await store.activity(since - timedelta(hours=1), bucket)
    assert buckets and all(b.start.timestamp() % bucket == 0 for b in buckets)
    assert sum(b.ok for b in buckets if b.kind == "channel") == 1
