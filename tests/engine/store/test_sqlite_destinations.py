"""The store's destination side: circuit status rows, probes that spend no budget, counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.message import HL7V2, DeliveryState, Envelope, MessageState, utcnow
from engine.store.base import DestinationStatus, RoutingOutcome
from engine.store.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = SqliteStore(tmp_path / "store.db")
    await s.open()
    yield s
    await s.close()


async def routed(store: SqliteStore, *destinations: str) -> list[str]:
    env = Envelope.new(channel="in", raw=b"MSH|^~\\&|A\r", content_type=HL7V2, metadata={})
    await store.accept(env)
    await store.start_processing(env.id)
    outcome = RoutingOutcome(MessageState.ROUTED, "r", [(d, "r") for d in destinations])
    return [d.id for d in await store.finish_routing(env.id, outcome)]


async def test_status_rows_are_replaced_and_survive_a_reopen(
    store: SqliteStore, tmp_path: Path
) -> None:
    opened = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    await store.save_destination_status(DestinationStatus("platform", "closed"))
    status = DestinationStatus(
        "platform", "open", 5, opened, opened + timedelta(seconds=30), "503", opens=2
    )
    await store.save_destination_status(status)
    await store.save_destination_status(DestinationStatus("archive", "closed"))
    await store.close()
    again = SqliteStore(tmp_path / "store.db")
    await again.open()
    try:
        found = await again.destination_statuses()
    finally:
        await again.close()
    assert [s.destination for s in found] == ["archive", "platform"]
    platform = found[1]
    assert platform.updated_at is not None
    assert platform == DestinationStatus(
        "platform", "open", 5, opened, opened + timedelta(seconds=30), "503", 2, platform.updated_at
    )


async def test_a_failed_probe_is_listed_but_spends_no_attempt(store: SqliteStore) -> None:
    (delivery_id,) = await routed(store, "platform")
    first = await store.record_attempt(
        delivery_id, DeliveryState.RETRYING, "refused", next_attempt_at=utcnow()
    )
    later = utcnow() + timedelta(seconds=60)
    probed = await store.record_probe(
        delivery_id, "circuit probe failed: 503", next_attempt_at=later
    )
    assert probed.attempts == first.attempts == 1
    assert probed.state is DeliveryState.RETRYING
    assert probed.last_error == "circuit probe failed: 503"
    assert probed.next_attempt_at is not None
    assert abs((probed.next_attempt_at - later).total_seconds()) < 0.001
    attempts = await store.attempts(delivery_id)
    assert [(a.number, a.outcome, a.detail) for a in attempts] == [
        (1, DeliveryState.RETRYING, "refused"),
        (1, DeliveryState.RETRYING, "circuit probe failed: 503"),
    ]


async def test_delivery_counts_per_destination_and_state(store: SqliteStore) -> None:
    ids = await routed(store, "a", "b")
    await routed(store, "a")
    await store.record_attempt(ids[0], DeliveryState.SENT, "ok")
    assert await store.delivery_counts() == {
        "a": {DeliveryState.SENT: 1, DeliveryState.PENDING: 1},
        "b": {DeliveryState.PENDING: 1},
    }
