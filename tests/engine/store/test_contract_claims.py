"""Store contract: claims (leases) that let several processes or nodes share one store."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from engine.message import HL7V2, DeliveryState, Envelope, MessageState, utcnow
from engine.store.base import DeliveryRecord, RoutingOutcome, Store

NODE_A, NODE_B = "node-a:101", "node-b:202"


def envelope(tag: str = "C1") -> Envelope:
    return Envelope.new(channel="in", raw=f"MSH|{tag}".encode(), content_type=HL7V2)


async def routed_delivery(store: Store, key: str | None = None) -> DeliveryRecord:
    env = envelope()
    await store.accept(env)
    await store.start_processing(env.id)
    keys = {"a": key} if key else {}
    (d,) = await store.finish_routing(
        env.id, RoutingOutcome(MessageState.ROUTED, "r", [("a", "r")], keys)
    )
    return d


async def test_a_live_claim_on_a_message_keeps_other_owners_out(store: Store) -> None:
    env = envelope()
    await store.accept(env)
    got = await store.start_processing(env.id, owner=NODE_A, lease=600)
    assert got is not None and got.state is MessageState.PROCESSING
    assert await store.start_processing(env.id, owner=NODE_B, lease=600) is None
    assert await store.start_processing(env.id) is None  # no owner: still respects it
    assert env.id not in (await store.runnable(utcnow())).message_ids
    # the owner renews its own claim without a new transition
    assert await store.start_processing(env.id, owner=NODE_A, lease=600) is not None
    assert len(await store.history(env.id)) == 2
    # finishing clears the claim and the message leaves the runnable work
    await store.finish_routing(env.id, RoutingOutcome(MessageState.UNMATCHED, "none"))
    assert await store.start_processing(env.id, owner=NODE_B) is None  # finished


async def test_an_expired_message_claim_is_taken_over(store: Store) -> None:
    env = envelope()
    await store.accept(env)
    assert await store.start_processing(env.id, owner=NODE_A, lease=0.0) is not None
    # the lease ran out: the message is runnable again and another owner takes it
    assert env.id in (await store.runnable(utcnow())).message_ids
    taken = await store.start_processing(env.id, owner=NODE_B, lease=600)
    assert taken is not None
    last = (await store.history(env.id))[-1]
    assert (last.from_state, last.to_state) == (MessageState.PROCESSING, MessageState.PROCESSING)
    assert last.reason == f"taken over from {NODE_A} (lease expired)"
    assert await store.start_processing(env.id, owner=NODE_A) is None


async def test_failing_a_message_clears_its_claim(store: Store) -> None:
    env = envelope()
    await store.accept(env)
    await store.start_processing(env.id, owner=NODE_A, lease=600)
    await store.fail_message(env.id, "routing failed")
    assert (await store.get_message(env.id)).state is MessageState.ERROR
    assert (await store.request_replay(env.id)).replayed
    assert await store.start_processing(env.id, owner=NODE_B) is not None


async def test_a_delivery_claim_excludes_other_owners_until_an_attempt_is_recorded(
    store: Store,
) -> None:
    d = await routed_delivery(store)
    claimed = await store.claim_delivery(d.id, owner=NODE_A, lease=600)
    assert claimed is not None and claimed.claim_owner == NODE_A
    assert claimed.claim_until is not None and claimed.claim_until > utcnow()
    assert await store.claim_delivery(d.id, owner=NODE_B, lease=600) is None
    assert d.id not in [i for i, _ in (await store.runnable(utcnow())).deliveries]
    assert await store.claim_delivery(d.id, owner=NODE_A, lease=600) is not None  # renew
    later = utcnow() + timedelta(seconds=5)
    after = await store.record_attempt(d.id, DeliveryState.RETRYING, "503", next_attempt_at=later)
    assert (after.claim_owner, after.claim_until) == (None, None)
    assert await store.claim_delivery(d.id, owner=NODE_B, lease=600) is not None
    await store.record_attempt(d.id, DeliveryState.SENT, "ok")
    assert await store.claim_delivery(d.id, owner=NODE_A) is None  # finished


async def test_an_expired_delivery_claim_is_runnable_and_taken_over(store: Store) -> None:
    d = await routed_delivery(store)
    assert await store.claim_delivery(d.id, owner=NODE_A, lease=0.0) is not None
    assert d.id in [i for i, _ in (await store.runnable(utcnow())).deliveries]
    taken = await store.claim_delivery(d.id, owner=NODE_B, lease=600)
    assert taken is not None and taken.claim_owner == NODE_B


async def test_two_owners_never_hold_two_deliveries_of_one_key(store: Store) -> None:
    first = await routed_delivery(store, key="K")
    second = await routed_delivery(store, key="K")
    other = await routed_delivery(store, key="L")
    assert await store.claim_delivery(first.id, owner=NODE_A, lease=600) is not None
    assert await store.claim_delivery(second.id, owner=NODE_B, lease=600) is None
    assert await store.claim_delivery(other.id, owner=NODE_B, lease=600) is not None
    await store.record_attempt(first.id, DeliveryState.SENT, "ok")
    assert await store.claim_delivery(second.id, owner=NODE_B, lease=600) is not None


async def test_concurrent_claims_of_one_delivery_have_one_winner(store: Store) -> None:
    d = await routed_delivery(store)
    owners = [f"node-{i}:{i}" for i in range(8)]
    results = await asyncio.gather(
        *(store.claim_delivery(d.id, owner=o, lease=600) for o in owners)
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert (await store.get_delivery(d.id)).claim_owner == winners[0].claim_owner


async def test_without_an_owner_processing_resumes_as_before(store: Store) -> None:
    env = envelope()
    await store.accept(env)
    assert await store.start_processing(env.id) is not None
    resumed = await store.start_processing(env.id)  # a restart finds it in processing
    assert resumed is not None and resumed.reason == "resumed after restart"
    assert env.id in (await store.runnable(utcnow())).message_ids
