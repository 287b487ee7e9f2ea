"""Acceptance (issue 13): a destination outage raises exactly one alert and, once the
destination is back, exactly one "resolved" notice; by webhook (a real HTTP receiver) and
by e-mail (aiosmtpd over STARTTLS with a client certificate). A real engine built from
routes.yaml receives ADT over MLLP and delivers FHIR to a real HTTP platform that stops
listening, then listens again. A restart during and after the episode re-sends nothing.
The notices carry no patient data. ``/metrics`` and ``/readyz``, served from the engine,
show the open circuit, the firing alert and the latency histograms."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.app import Engine
from engine.assembly import build_engine
from engine.config import load_config_text
from engine.config.models import Config
from engine.console.app import build_app
from engine.console.context import ConsoleContext
from engine.latency import ACK_LATENCY, DELIVERY_LATENCY
from engine.message import DeliveryState
from engine.pki import DevPki
from engine.sandbox.fhir_platform import FhirPlatform
from tests.support import smtp_server
from tests.support.asgi_server import serving
from tests.support.engines import mllp_port
from tests.support.fhir_bundles import adt, adt_bundle
from tests.support.mllp import MllpPeer, msa
from tests.support.smtp_server import SmtpServer
from tests.support.webhook import WebhookServer

pytestmark = pytest.mark.slow
SECRET = "hook-s3cret"
CONFIG = """\
version: 1
engine: {{home: {home}, workers: 2, shutdown_grace: 2s, poll_interval: 200ms}}
store: {{backend: sqlite, path: {home}/store.db}}
retry:
  max_attempts: 1000
  initial_backoff: 50ms
  max_backoff: 200ms
  circuit: {{failures: 2, probe_interval: 200ms, max_probe_interval: 400ms}}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:0"}}
destinations:
  platform: {{type: fhir, base_url: "{base_url}", timeout: 2s, connect_timeout: 1s}}
routes:
  - {{name: adt, to: [platform]}}
alerts:
  interval: 200ms
  notifiers:
    ops:
      type: webhook
      url: "{hook}"
      secret: ${{HOOK_SECRET}}
    oncall:
      type: email
      sender: passerelle@hopital.test
      to: [oncall@hopital.test]
      smtp:
        address: "127.0.0.1:{smtp_port}"
        username: "{smtp_user}"
        password: ${{SMTP_PASSWORD}}
        tls: {{ca_file: "{ca}", cert_file: "{cert}", key_file: "{key}"}}
  rules:
    - {{name: platform_down, kind: destination_failing, destinations: [platform], for: 1s}}
"""
IPPS = ("IPP-ALERT-1", "IPP-ALERT-2", "IPP-ALERT-3")


async def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def statuses(hook: WebhookServer) -> list[str]:
    return [json.loads(r.body)["status"] for r in hook.received()]


def histogram_count(metric: object, label: str) -> float:
    for family in metric.collect():  # type: ignore[attr-defined]
        for sample in family.samples:
            if sample.name.endswith("_count") and label in sample.labels.values():
                return float(sample.value)
    return 0.0


class EngineView:
    """The running engine as the console sees it (channel states from its sources)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def channel_states(self) -> dict[str, str]:
        return {source.name: "listening" for source in self.engine.sources}

    async def apply_controls(self) -> None:
        return None

    async def reload(self) -> str:
        return "not used"


def config_of(text: str) -> Config:
    env = {"HOOK_SECRET": SECRET, "SMTP_PASSWORD": smtp_server.PASSWORD}
    return load_config_text(text, env=env)


async def scrape(engine: Engine, text: str) -> tuple[int, dict[tuple[str, str], float]]:
    """/readyz status and /metrics samples (name, first label value) of the engine."""
    ctx = ConsoleContext(store=engine.store, config=config_of(text), runtime=EngineView(engine))
    async with serving(build_app(ctx)) as client:
        ready = (await client.get("/readyz")).status_code
        text = (await client.get("/metrics")).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values = [v for k, v in sorted(sample.labels.items()) if k != "le"]
            samples[(sample.name, ",".join(values))] = sample.value
    return ready, samples


async def start(text: str) -> Engine:
    engine = build_engine(config_of(text))
    engine.pipeline.transforms["adt"] = adt_bundle  # the test's ADT -> Bundle transform
    await engine.start()
    return engine


@pytest.mark.timeout(120)
async def test_an_outage_raises_one_alert_and_one_resolved_notice(
    tmp_path: Path, pki: DevPki, smtp: SmtpServer
) -> None:
    with FhirPlatform() as platform, WebhookServer() as hook:
        text = CONFIG.format(
            home=tmp_path / "home",
            base_url=platform.base_url,
            hook=hook.url,
            smtp_port=smtp.port,
            smtp_user=smtp_server.USER,
            ca=pki.ca_cert,
            cert=pki.client_cert,
            key=pki.client_key,
        )
        acks_before = histogram_count(ACK_LATENCY, "mllp_in")
        delivered_before = histogram_count(DELIVERY_LATENCY, "platform")
        engine = await start(text)
        try:
            platform.down()
            async with MllpPeer("127.0.0.1", mllp_port(engine)) as peer:
                for n, ipp in enumerate(IPPS):
                    assert msa(await peer.exchange(adt(f"CTRL-ALERT-{n}", ipp)))[1] == "AA"
            await until(lambda: statuses(hook) == ["firing"], "the firing notice")
            ready, metrics = await scrape(engine, text)
            assert ready == 200  # the store writes and the channel listens: an outage elsewhere
            assert metrics[("passerelle_circuit_state", "platform,open")] == 1.0
            assert metrics[("passerelle_alerts_firing", "platform_down")] == 1.0
            assert metrics[("passerelle_backlog", "platform")] == len(IPPS)
            await asyncio.sleep(1.5)  # many evaluation rounds: nothing more while it lasts
            assert statuses(hook) == ["firing"]
            await engine.stop()  # a restart in the middle of the outage
            engine = await start(text)
            await asyncio.sleep(1.0)
            assert statuses(hook) == ["firing"]

            platform.up()
            await until(lambda: statuses(hook) == ["firing", "resolved"], "the resolved notice")

            async def all_sent() -> bool:
                counts = await engine.store.delivery_counts()
                return counts.get("platform", {}).get(DeliveryState.SENT, 0) == len(IPPS)

            deadline = time.monotonic() + 30
            while not await all_sent():
                assert time.monotonic() < deadline, await engine.store.delivery_counts()
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            ready, metrics = await scrape(engine, text)
            assert metrics[("passerelle_circuit_state", "platform,closed")] == 1.0
            assert metrics[("passerelle_alerts_firing", "platform_down")] == 0.0
            assert metrics[("passerelle_deliveries", "platform,sent")] == len(IPPS)
            assert metrics[("passerelle_delivery_latency_seconds_count", "platform")] >= len(IPPS)
            assert metrics[("passerelle_ack_latency_seconds_count", "mllp_in")] >= len(IPPS)
        finally:
            await engine.stop()
        engine = await start(text)  # a restart after the episode
        await asyncio.sleep(1.0)
        await engine.stop()
        mails = await smtp.recorder.wait_for(2)

    assert statuses(hook) == ["firing", "resolved"]
    fired, resolved = (json.loads(r.body) for r in hook.received())
    assert (fired["rule"], fired["subject"], fired["kind"]) == (
        "platform_down",
        "platform",
        "destination_failing",
    )
    assert fired["detail"].startswith("destination platform: circuit open, 3 waiting")
    assert resolved["since"] == fired["since"]
    for request in hook.received():
        expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["x-passerelle-signature"] == f"sha256={expected}"
    assert len(mails) == 2
    assert b"FIRING platform_down: platform" in mails[0].content
    assert b"RESOLVED platform_down: platform" in mails[1].content
    texts = [r.body for r in hook.received()] + [m.content for m in mails]
    for needle in (*IPPS, "NOM", "PRENOM", "CTRL-ALERT"):
        assert not any(needle.encode() in t for t in texts), needle
    # the in-process histograms saw every ACK and every delivery
    assert histogram_count(ACK_LATENCY, "mllp_in") - acks_before == len(IPPS)
    assert histogram_count(DELIVERY_LATENCY, "platform") - delivered_before == len(IPPS)
