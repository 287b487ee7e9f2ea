"""PostgreSQL destination-side operations (circuit state, probes, counts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from engine.message import HL7V2, DeliveryState, Envelope, MessageState, utcnow
from engine.store import _pg_destinations as destinations
from engine.store.base import RoutingOutcome
from engine.store.postgres import PostgresStore
from tests.support.postgres import pg_dsn

__all__ = ["pg_dsn"]


@dataclass(frozen=True)
class Status:  # the fields of engine.store.base.DestinationStatus
    destination: str
    state: str
    failures: int = 0
    opened_at: datetime | None = None
    next_probe_at: datetime | None = None
    last_error: str = ""
    opens: int = 0
    updated_at: datetime | None = None


@pytest.fixture
async def store(pg_dsn: str) -> AsyncIterator[PostgresStore]:
    s = PostgresStore(pg_dsn, min_size=1)
    await s.open()
    yield s
    await s.close()


async def test_statuses_are_replaced_per_destination(store: PostgresStore) -> None:
    opened = utcnow()
    await store._tx(lambda c: destinations.save_status(c, Status("platform", "closed")))
    await store._tx(
        lambda c: destinations.save_status(
            c, Status("platform", "open", 5, opened, opened + timedelta(seconds=30), "503", 1)
        )
    )
    await store._tx(lambda c: destinations.save_status(c, Status("dmp", "closed")))
    got = await store._tx(lambda c: destinations.statuses(c, Status))
    assert [(s.destination, s.state, s.failures, s.opens) for s in got] == [
        ("dmp", "closed", 0, 0),
        ("platform", "open", 5, 1),
    ]
    assert got[1].opened_at == opened and got[1].updated_at is not None


async def test_a_failed_probe_waits_without_spending_an_attempt(store: PostgresStore) -> None:
    env = Envelope.new(channel="in", raw=b"MSH|x", content_type=HL7V2)
    await store.accept(env)
    await store.start_processing(env.id)
    (d,) = await store.finish_routing(
        env.id, RoutingOutcome(MessageState.ROUTED, "r", [("platform", "r")])
    )
    await store.record_attempt(d.id, DeliveryState.RETRYING, "503")
    later = utcnow() + timedelta(seconds=60)
    probed = await store._tx(lambda c: destinations.record_probe(c, d.id, "probe: 503", later))
    assert (probed.state, probed.attempts, probed.last_error) == (
        DeliveryState.RETRYING, 1, "probe: 503",
    )  # fmt: skip
    assert probed.next_attempt_at == later
    assert [a.detail for a in await store.attempts(d.id)] == ["503", "probe: 503"]
    counts = await store._tx(destinations.delivery_counts)
    assert counts == {"platform": {DeliveryState.RETRYING: 1}}
