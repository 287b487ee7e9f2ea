"""The evaluator's state machine on a real store (both backends) and a real webhook
receiver: one notice when a rule starts firing, one when it clears, none again after a
restart, only the lease holder notifies, a failed notice is tried again. The outage is
written into the store through its API; the clock is the test's."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.alerting import AlertEvaluator, build_notifiers
from engine.alerting.notifiers import SIGNATURE_HEADER
from engine.config import load_config_text
from engine.config.models import Config
from engine.message import HL7V2, DeliveryState, Envelope, MessageState
from engine.pki import DevPki
from engine.store.base import DestinationStatus, RoutingOutcome, Store
from tests.support import smtp_server
from tests.support.postgres import pg_dsn, postgres_server
from tests.support.smtp_server import SmtpServer
from tests.support.stores import NewStore, new_store
from tests.support.webhook import WebhookServer

RAW = b"MSH|^~\\&|APP|FAC|||20261203||ADT^A01|C1|P|2.5\r"
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
CONFIG = """\
version: 1
channels:
  adt_in: {{type: mllp, listen: "127.0.0.1:0"}}
destinations:
  dmp: {{type: file, directory: {out}}}
routes:
  - {{name: all, to: [dmp]}}
alerts:
  interval: 1s
  notifiers:
    hook: {{type: webhook, url: "{url}", secret: "s3cret"}}
  rules:
    - {{name: dmp_down, kind: destination_failing, destinations: [dmp], for: 2m}}
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Outage:
    """Puts the store in the state of an outage of ``dmp`` (4 deliveries retrying, circuit
    open since T0) and back (all sent, circuit closed), through the store's own API."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.deliveries: list[str] = []

    async def begin(self) -> None:
        store = self.store
        for _ in range(4):
            env = Envelope.new(
                channel="adt_in", raw=b"MSH|^~\\&|A", content_type=HL7V2, metadata={}
            )
            await store.accept(env)
            await store.start_processing(env.id)
            outcome = RoutingOutcome(MessageState.ROUTED, "all", (("dmp", "all"),))
            (delivery,) = await store.finish_routing(env.id, outcome)
            await self._attempt(delivery.id, DeliveryState.RETRYING, "HTTP 503")
            self.deliveries.append(delivery.id)
        await store.save_destination_status(
            DestinationStatus("dmp", "open", 5, T0, None, "HTTP 503")
        )

    async def end(self) -> None:
        for delivery_id in self.deliveries:
            await self._attempt(delivery_id, DeliveryState.SENT, "201")
        await self.store.save_destination_status(DestinationStatus("dmp", "closed", 0, T0))

    async def _attempt(self, delivery_id: str, outcome: DeliveryState, detail: str) -> None:
        assert await self.store.claim_delivery(delivery_id, owner="test:1") is not None
        later = datetime.now(UTC) + timedelta(hours=1)
        retry_at = later if outcome is DeliveryState.RETRYING else None
        await self.store.record_attempt(delivery_id, outcome, detail, next_attempt_at=retry_at)


@pytest.fixture
def hook() -> Iterator[WebhookServer]:
    with WebhookServer() as server:
        yield server


@pytest.fixture
async def store(new_store: NewStore) -> AsyncIterator[Store]:
    store = new_store()
    await store.open()
    yield store
    await store.close()


def config(tmp_path: Path, hook: WebhookServer, text: str = CONFIG) -> Config:
    return load_config_text(text.format(out=tmp_path / "out", url=hook.url))


def evaluator(store: Store, cfg: Config, clock: Clock, node: str = "a") -> AlertEvaluator:
    return AlertEvaluator(store, cfg, build_notifiers(cfg), node=node, clock=clock)


async def test_one_notice_to_fire_one_to_resolve(
    tmp_path: Path, hook: WebhookServer, store: Store
) -> None:
    clock, cfg = Clock(), config(tmp_path, hook)
    ev = evaluator(store, cfg, clock)
    try:
        outage = Outage(store)
        await outage.begin()
        clock.now = T0 + timedelta(minutes=1)  # open since T0, must hold 2 minutes
        assert await ev.evaluate() == []
        clock.now = T0 + timedelta(minutes=2, seconds=1)
        (fired,) = await ev.evaluate()
        assert (fired.status, fired.fingerprint, fired.since) == (
            "firing",
            "dmp_down:dmp",
            "2026-12-03T09:00:00Z",
        )
        for minutes in (3, 4, 5):
            clock.now = T0 + timedelta(minutes=minutes)
            assert await ev.evaluate() == []
        await outage.end()
        clock.now = T0 + timedelta(minutes=6)
        (resolved,) = await ev.evaluate()
        assert resolved.status == "resolved"
        clock.now = T0 + timedelta(minutes=7)
        assert await ev.evaluate() == []
    finally:
        await ev.stop()
    first, second = hook.received()
    assert len(hook.received()) == 2
    body = json.loads(first.body)
    assert body["status"] == "firing" and body["subject"] == "dmp" and body["node"] == "a"
    assert body["detail"] == ("destination dmp: circuit open, 4 waiting; last error: HTTP 503")
    assert json.loads(second.body)["status"] == "resolved"
    expected = hmac.new(b"s3cret", first.body, hashlib.sha256).hexdigest()
    assert first.headers[SIGNATURE_HEADER.lower()] == f"sha256={expected}"
    (state,) = await store.alert_states()
    assert (state.firing, state.resolved_at) == (False, T0 + timedelta(minutes=6))


async def test_a_restart_or_a_second_node_sends_nothing_again(
    tmp_path: Path, hook: WebhookServer, store: Store
) -> None:
    clock, cfg = Clock(), config(tmp_path, hook)
    clock.now = T0 + timedelta(minutes=3)
    first = evaluator(store, cfg, clock, node="a")
    await Outage(store).begin()
    assert len(await first.evaluate()) == 1
    other = evaluator(store, cfg, clock, node="b")
    assert await other.evaluate() == []  # a holds the lease
    await first.stop()
    restarted = evaluator(store, cfg, clock, node="a")  # same owner name: takes the lease
    clock.now = T0 + timedelta(minutes=4)
    assert await restarted.evaluate() == []  # already notified, per the store
    await restarted.stop()
    await other.stop()
    assert len(hook.received()) == 1


async def test_a_failed_notice_is_tried_again(
    tmp_path: Path, hook: WebhookServer, store: Store
) -> None:
    clock, cfg = Clock(), config(tmp_path, hook)
    clock.now = T0 + timedelta(minutes=3)
    ev = evaluator(store, cfg, clock)
    await Outage(store).begin()
    hook.status = 503
    assert await ev.evaluate() == []
    assert not any(s.firing for s in await store.alert_states())
    hook.status = 200
    clock.now += timedelta(seconds=30)
    assert [n.status for n in await ev.evaluate()] == ["firing"]
    assert await ev.evaluate() == []
    await ev.stop()
    assert len(hook.received()) == 2  # the refused one, then the accepted one


async def test_email_notices_over_starttls_with_a_client_certificate(
    tmp_path: Path, hook: WebhookServer, store: Store, smtp: SmtpServer, pki: DevPki
) -> None:
    text = CONFIG.replace(
        '    hook: {{type: webhook, url: "{url}", secret: "s3cret"}}\n',
        "    mail:\n"
        "      type: email\n"
        "      sender: alerts@hopital.test\n"
        "      to: [oncall@hopital.test]\n"
        f'      smtp: {{{{address: "127.0.0.1:{smtp.port}", username: "{smtp_server.USER}",'
        f' password: "{smtp_server.PASSWORD}", tls: {{{{ca_file: "{pki.ca_cert}",'
        f' cert_file: "{pki.client_cert}", key_file: "{pki.client_key}"}}}}}}}}\n',
    )
    clock, cfg = Clock(), config(tmp_path, hook, text)
    clock.now = T0 + timedelta(minutes=3)
    ev = evaluator(store, cfg, clock)
    outage = Outage(store)
    await outage.begin()
    assert len(await ev.evaluate()) == 1
    await outage.end()
    assert len(await ev.evaluate()) == 1
    await ev.stop()
    fired, resolved = await smtp.recorder.wait_for(2)
    assert fired.rcpt_tos == ("oncall@hopital.test",)
    assert b"Subject: [Passerelle] FIRING dmp_down: dmp" in fired.content
    assert b"Subject: [Passerelle] RESOLVED dmp_down: dmp" in resolved.content
    assert b"detail: destination dmp: circuit open" in fired.content
    assert hook.received() == []


__all__ = ["new_store", "pg_dsn", "postgres_server"]


async def test_a_reload_puts_new_rules_and_notifiers_in_force(
    tmp_path: Path, hook: WebhookServer, store: Store
) -> None:
    clock, cfg = Clock(), config(tmp_path, hook)
    clock.now = T0 + timedelta(minutes=3)
    ev = evaluator(store, cfg, clock)
    await Outage(store).begin()
    assert [n.rule for n in await ev.evaluate()] == ["dmp_down"]
    with WebhookServer() as second:
        text = CONFIG.replace("dmp_down, kind: destination_failing", "queue, kind: backlog")
        text = text.replace("for: 2m}", "max_messages: 3}").replace('"{url}"', f'"{second.url}"')
        ev.reconfigure(load_config_text(text.format(out=tmp_path / "out", url="")))
        (notice,) = await ev.evaluate()
        assert notice.rule == "queue"
        assert notice.detail.startswith("destination dmp: 4 waiting, oldest ")
        assert len(second.received()) == 1
    await ev.stop()
    assert len(hook.received()) == 1  # dmp_down's firing notice, before the reload
    states = {s.fingerprint: s for s in await store.alert_states()}
    assert states["dmp_down:dmp"].firing is False  # its rule is gone: no longer firing
    assert states["dmp_down:dmp"].detail == "removed"
    assert states["queue:dmp"].firing is True
