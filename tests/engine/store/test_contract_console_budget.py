"""Store contract (console): the sent-payload budget. Attempt payloads (what was sent,
what the peer answered) are counted and purged by age or size, oldest first; the
attempts themselves stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.message import DeliveryState
from engine.store.base import Store
from tests.engine.store.console_data import routed

SENT, RETRYING = DeliveryState.SENT, DeliveryState.RETRYING


async def test_attempt_payloads_are_counted_and_purged_oldest_first(store: Store) -> None:
    assert await store.attempt_payload_usage() == (0, None)
    deliveries = []
    before_first = datetime.now(UTC)
    for _ in range(4):
        _, (d,) = await routed(store, "adt", [("lab", "to_lab")])
        await store.record_attempt(d.id, SENT, "AA", sent=b"s" * 1000, response=b"r" * 100)
        deliveries.append(d)
    _, (other,) = await routed(store, "adt", [("dmp", "to_dmp")])
    await store.record_attempt(other.id, RETRYING, "E_PEER 503", response=b"e" * 50)
    used, oldest = await store.attempt_payload_usage()
    assert used == 4 * 1100 + 50
    assert oldest is not None and before_first - timedelta(milliseconds=1) <= oldest
    assert oldest <= datetime.now(UTC)
    # When the budget is 2500 bytes, Then the two oldest payloads go
    assert await store.purge_attempt_payloads(before=None, max_bytes=2500) == 2
    used, oldest_now = await store.attempt_payload_usage()
    assert used == 2 * 1100 + 50 and oldest_now is not None and oldest_now > oldest
    assert await store.attempt_payloads(deliveries[0].id) == []
    assert [a.outcome for a in await store.attempts(deliveries[0].id)] == [SENT]  # kept
    (kept,) = await store.attempt_payloads(deliveries[2].id)
    assert (kept.sent, kept.response) == (b"s" * 1000, b"r" * 100)
    # within budget: nothing to do
    assert await store.purge_attempt_payloads(before=None, max_bytes=10_000) == 0
    # by age, at most ``limit`` per call
    now = datetime.now(UTC) + timedelta(seconds=1)
    assert await store.purge_attempt_payloads(before=now, max_bytes=None, limit=2) == 2
    assert await store.purge_attempt_payloads(before=now, max_bytes=None, limit=2) == 1
    assert await store.attempt_payload_usage() == (0, None)
    assert await store.purge_attempt_payloads(before=now, max_bytes=0) == 0
    # the messages themselves are untouched
    assert (await store.get_message(deliveries[0].message_id)).envelope.raw.startswith(b"MSH|")


async def test_each_attempt_keeps_its_own_payload_in_the_count(store: Store) -> None:
    _, (d,) = await routed(store, "adt", [("lab", "to_lab")])
    await store.record_attempt(d.id, RETRYING, "E_PEER", sent=b"x" * 300, response=b"NAK")
    await store.record_attempt(d.id, SENT, "AA", sent=b"y" * 200)
    assert (await store.attempt_payload_usage())[0] == 303 + 200
    # an age limit in the past removes nothing
    old = datetime.now(UTC) - timedelta(days=1)
    assert await store.purge_attempt_payloads(before=old, max_bytes=None) == 0
