"""``/metrics``, ``/healthz`` and ``/readyz`` served over a real socket (uvicorn, port 0)
on a real SQLite store: the scraped figures, parsed by prometheus_client's parser, are
the store's, and readiness follows the store and the channels' heartbeats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.config import load_config_text
from engine.console.app import build_app
from engine.console.context import ConsoleContext
from engine.message import HL7V2, DeliveryState, Envelope, MessageState
from engine.store.base import RoutingOutcome, Store
from engine.store.console import AlertState, NodeStatus
from tests.support.asgi_server import serving
from tests.support.postgres import pg_dsn, postgres_server
from tests.support.stores import NewStore, new_store

CONFIG = """\
version: 1
channels:
  adt_in: {type: mllp, listen: "127.0.0.1:0"}
  lab_in: {type: mllp, listen: "127.0.0.1:0"}
destinations:
  archive: {type: file, directory: /tmp/passerelle-metrics-out}
  dmp: {type: file, directory: /tmp/passerelle-metrics-dmp}
routes:
  - {name: adt, when: {channel: adt_in}, to: [archive], continue: true}
  - {name: adt_dmp, when: {channel: adt_in}, to: [dmp]}
alerts:
  rules:
    - {name: dmp_down, kind: destination_failing, destinations: [dmp]}
    - {name: dead, kind: dead_letters, threshold: 0}
"""
PATIENT = b"MSH|^~\\&|APP|FAC|||20261203||ADT^A01|CTRL1|P|2.5\rPID|1||IPP-4242^^^H||DUPONT^JEANNE\r"


def envelope(channel: str) -> Envelope:
    return Envelope.new(channel=channel, raw=PATIENT, content_type=HL7V2, metadata={})


async def deliver(store: Store, delivery_id: str, outcome: DeliveryState) -> None:
    assert await store.claim_delivery(delivery_id, owner="test:1") is not None
    later = datetime.now(UTC) + timedelta(hours=1)
    await store.record_attempt(
        delivery_id,
        outcome,
        "HTTP 503" if outcome is not DeliveryState.SENT else "ok",
        next_attempt_at=later if outcome is DeliveryState.RETRYING else None,
    )


async def populate(store: Store) -> None:
    """4 ADT routed to archive (all sent) and dmp (2 sent, 1 dead, 1 retrying); 1 ADT
    filtered; on lab_in one message unmatched, one in error, one rejected, one waiting."""
    dmp_outcomes = [
        DeliveryState.SENT,
        DeliveryState.SENT,
        DeliveryState.DEAD,
        DeliveryState.RETRYING,
    ]
    for outcome in dmp_outcomes:
        env = envelope("adt_in")
        await store.accept(env)
        assert await store.start_processing(env.id) is not None
        routed = RoutingOutcome(
            MessageState.ROUTED, "adt", (("archive", "adt"), ("dmp", "adt_dmp"))
        )
        archive, dmp = await store.finish_routing(env.id, routed)
        await deliver(store, archive.id, DeliveryState.SENT)
        await deliver(store, dmp.id, outcome)
    for state in (MessageState.FILTERED, MessageState.UNMATCHED):
        env = envelope("adt_in" if state is MessageState.FILTERED else "lab_in")
        await store.accept(env)
        await store.start_processing(env.id)
        await store.finish_routing(env.id, RoutingOutcome(state, "test"))
    failed = envelope("lab_in")
    await store.accept(failed)
    await store.start_processing(failed.id)
    await store.fail_message(failed.id, "routing failed: no ordering key")
    await store.reject(envelope("lab_in"), "AR 207")
    await store.accept(envelope("lab_in"))


@pytest.fixture
async def store(new_store: NewStore) -> AsyncIterator[Store]:
    store = new_store()
    await store.open()
    yield store
    await store.close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_scraped_figures_are_the_stores(store: Store) -> None:
    await populate(store)
    await store.save_alert_state(AlertState("dead:dmp", True, datetime.now(UTC), None))
    config = load_config_text(CONFIG)
    async with serving(build_app(ConsoleContext(store=store, config=config))) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = samples(response.text)

    def m(name: str, **labels: str) -> float:
        return got[(name, tuple(sorted(labels.items())))]

    assert m("passerelle_store_up") == 1.0
    expected_messages = {
        ("adt_in", "routed"): 4,
        ("adt_in", "filtered"): 1,
        ("lab_in", "unmatched"): 1,
        ("lab_in", "error"): 1,
        ("lab_in", "rejected"): 1,
        ("lab_in", "received"): 1,
    }
    for channel in ("adt_in", "lab_in"):
        for state in MessageState:
            value = m("passerelle_messages", channel=channel, state=state.value)
            assert value == expected_messages.get((channel, state.value), 0), (channel, state)
    expected_deliveries = {
        ("archive", "sent"): 4,
        ("dmp", "sent"): 2,
        ("dmp", "dead"): 1,
        ("dmp", "retrying"): 1,
    }
    for dest in ("archive", "dmp"):
        for dstate in DeliveryState:
            value = m("passerelle_deliveries", destination=dest, state=dstate.value)
            assert value == expected_deliveries.get((dest, dstate.value), 0), (dest, dstate)
    assert m("passerelle_backlog", destination="dmp") == 1
    assert m("passerelle_backlog", destination="archive") == 0
    assert m("passerelle_oldest_waiting_seconds", destination="dmp") >= 0
    assert m("passerelle_route_deliveries", route="adt") == 4
    assert m("passerelle_route_deliveries", route="adt_dmp") == 4
    assert m("passerelle_circuit_state", destination="dmp", state="closed") == 1
    assert m("passerelle_alerts_firing", rule="dead") == 1
    assert m("passerelle_alerts_firing", rule="dmp_down") == 0
    # the same figures as the store's own summaries
    for summary in await store.channel_summaries():
        for state, n in summary.counts.items():
            assert m("passerelle_messages", channel=summary.channel, state=state.value) == n
    for dsummary in await store.destination_summaries():
        for dstate, n in dsummary.counts.items():
            assert (
                m("passerelle_deliveries", destination=dsummary.destination, state=dstate.value)
                == n
            )
    # no patient data anywhere, no latency histograms outside the engine
    for needle in ("DUPONT", "JEANNE", "IPP-4242", "CTRL1"):
        assert needle not in response.text
    assert "passerelle_ack_latency_seconds" not in response.text


async def test_probes(store: Store) -> None:
    config = load_config_text(CONFIG)
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    ctx = ConsoleContext(store=store, config=config, now=lambda: now)
    both = {"adt_in": "listening", "lab_in": "listening"}
    async with serving(build_app(ctx)) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["reasons"] == ["no engine node has sent a heartbeat recently"]
        await store.save_node_status(NodeStatus("a", 1, now, now - timedelta(seconds=5), both))
        response = await client.get("/readyz")
        assert (response.status_code, response.json()) == (200, {"status": "ready"})
        failed = {"adt_in": "listening", "lab_in": "failed"}
        await store.save_node_status(NodeStatus("a", 1, now, now - timedelta(seconds=5), failed))
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["reasons"] == ["channel lab_in is failed"]
        # another live node listens on lab_in: ready again; a dead node does not count
        await store.save_node_status(NodeStatus("b", 2, now, now - timedelta(seconds=1), both))
        assert (await client.get("/readyz")).status_code == 200
        await store.save_node_status(NodeStatus("b", 2, now, now - timedelta(minutes=2), both))
        assert (await client.get("/readyz")).status_code == 503
        await store.close()  # the write probe fails
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["reasons"][0].startswith("store not writable: ")
        metrics = samples((await client.get("/metrics")).text)
        assert metrics[("passerelle_store_up", ())] == 0.0


__all__ = ["new_store", "pg_dsn", "postgres_server"]
