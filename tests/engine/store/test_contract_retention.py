"""Store contract: retention removes old payloads, never an undelivered message's."""

from __future__ import annotations

import asyncio

from engine.message import HL7V2, DeliveryState, Envelope, MessageState, utcnow
from engine.store.base import RoutingOutcome, Store
from engine.store.retention import RetentionPolicy, RetentionPurger


def envelope(channel: str = "in", size: int = 64) -> Envelope:
    return Envelope.new(channel=channel, raw=b"MSH|" + b"x" * size, content_type=HL7V2)


async def routed(store: Store, env: Envelope, *outcomes: DeliveryState) -> Envelope:
    """Accept and route ``env`` to one destination per outcome, then record them."""
    await store.accept(env)
    await store.start_processing(env.id)
    pairs = [(f"d{i}", "r") for i in range(len(outcomes))]
    deliveries = await store.finish_routing(env.id, RoutingOutcome(MessageState.ROUTED, "r", pairs))
    for d, outcome in zip(deliveries, outcomes, strict=True):
        if outcome is not DeliveryState.PENDING:
            await store.record_attempt(d.id, outcome, "x", sent=b"sent", response=b"answer")
    return env


async def test_only_finished_and_delivered_payloads_go(store: Store) -> None:
    sent = await routed(store, envelope(), DeliveryState.SENT, DeliveryState.SENT)
    dead = await routed(store, envelope(), DeliveryState.SENT, DeliveryState.DEAD)
    pending = await routed(store, envelope(), DeliveryState.PENDING)
    retrying = await routed(store, envelope(), DeliveryState.RETRYING)
    unrouted = envelope()
    await store.accept(unrouted)
    failed = envelope()
    await store.accept(failed)
    await store.fail_message(failed.id, "routing failed")
    filtered = envelope()
    await store.accept(filtered)
    await store.finish_routing(filtered.id, RoutingOutcome(MessageState.FILTERED, "dropped"))
    refused = envelope()
    await store.reject(refused, "not HL7")
    await asyncio.sleep(0.01)  # ids are made per millisecond
    before = utcnow()
    await asyncio.sleep(0.01)
    recent = await routed(store, envelope(), DeliveryState.SENT)
    # When retention runs for everything older than `before`
    assert await store.purge_payloads(before) == 3
    assert await store.purge_payloads(before) == 0
    # Then the delivered, filtered and refused payloads are gone, with their attempts'
    for env in (sent, filtered, refused):
        stored = await store.get_message(env.id)
        assert stored.envelope.raw == b"" and stored.envelope.channel == "in"
        assert (await store.request_replay(env.id)).note.startswith("its payload was removed")
    for d in await store.deliveries(sent.id):
        assert await store.attempt_payloads(d.id) == []
        assert [a.outcome for a in await store.attempts(d.id)] == [DeliveryState.SENT]
    # and nothing undelivered or recent was touched
    for env in (dead, pending, retrying, unrouted, failed, recent):
        assert (await store.get_message(env.id)).envelope.raw == env.raw
    kept = [p for d in await store.deliveries(dead.id) for p in await store.attempt_payloads(d.id)]
    assert [p.sent for p in kept] == [b"sent", b"sent"]


async def test_retention_per_channel(store: Store) -> None:
    short = await routed(store, envelope("lab"), DeliveryState.SENT)
    long = await routed(store, envelope("adt"), DeliveryState.SENT)
    await asyncio.sleep(0.01)
    purger = RetentionPurger(store, RetentionPolicy(default=3600, channels={"lab": 0}), batch=1)
    assert await purger.purge_once() == 1
    assert (await store.get_message(short.id)).envelope.raw == b""
    assert (await store.get_message(long.id)).envelope.raw == long.raw
    everything = RetentionPurger(store, RetentionPolicy(default=0, channels={"lab": 0}))
    assert await everything.purge_once() == 1
    assert (await store.get_message(long.id)).envelope.raw == b""


async def test_sent_payloads_have_their_own_budget(store: Store) -> None:
    first = await routed(store, envelope(), DeliveryState.SENT)
    second = await routed(store, envelope(), DeliveryState.SENT, DeliveryState.DEAD)
    used, oldest = await store.attempt_payload_usage()
    assert used == 3 * len(b"sentanswer") and oldest is not None
    # a size budget removes the oldest first; the attempts and the messages stay
    by_size = RetentionPolicy(sent_max_bytes=2 * len(b"sentanswer"))
    assert by_size.active
    assert await RetentionPurger(store, by_size, batch=1).purge_once() == 0  # no message
    assert (await store.attempt_payload_usage())[0] == 2 * len(b"sentanswer")
    (d,) = await store.deliveries(first.id)
    assert await store.attempt_payloads(d.id) == []
    assert [a.outcome for a in await store.attempts(d.id)] == [DeliveryState.SENT]
    assert (await store.get_message(first.id)).envelope.raw == first.raw
    # an age budget removes what is older than it
    await asyncio.sleep(0.01)
    by_age = RetentionPurger(store, RetentionPolicy(sent_max_age=0.0), batch=1)
    await by_age.purge_once()
    assert await store.attempt_payload_usage() == (0, None)
    assert len(await store.deliveries(second.id)) == 2


def test_routes_yaml_sets_the_retention_the_engine_runs() -> None:
    from engine.assembly import build_engine
    from engine.config.loader import load_config_text

    text = (
        "version: 1\nstore:\n  path: /tmp/unused/store.db\n"
        "  retention: {payloads: 90d, channels: {lab: 30d}, every: 10m}\n"
    )
    engine = build_engine(load_config_text(text, env={}))
    assert engine.retention.policy == RetentionPolicy(
        90 * 86400, {"lab": 30 * 86400}, 600, 30 * 86400, 2 * 1000**3
    )
    text = text.replace("every: 10m", "sent_payloads: {max_age: 7d, max_bytes: null}")
    engine = build_engine(load_config_text(text, env={}))
    assert (engine.retention.policy.sent_max_age, engine.retention.policy.sent_max_bytes) == (
        7 * 86400,
        None,
    )
