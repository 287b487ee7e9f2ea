"""A real console for tests: uvicorn on 127.0.0.1 port 0 over a real store, users of
each role in two establishments, and messages seeded through the store's own methods.

Establishment A (``750000001``) has channel ``chan_a`` and destination ``dest_a``;
establishment B (``750000002``) ``chan_b`` and ``dest_b``; ``chan_free`` is untagged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from engine.config.loader import load_config_text
from engine.config.models import Config
from engine.console.api.accounts import create_account, issue_token
from engine.console.context import ConsoleContext, EngineRuntime
from engine.console.server import ConsoleServer
from engine.message import DeliveryState, Envelope, MessageState
from engine.store.base import RoutingOutcome, Store

EST_A, EST_B = "750000001", "750000002"
PASSWORD = "correct horse battery"
SECRET = b"patient-index-secret-for-tests"

CONFIG = """
version: 1
engine: {{home: {home}}}
channels:
  chan_a: {{type: mllp, listen: "127.0.0.1:0", establishment: "750000001"}}
  chan_b: {{type: mllp, listen: "127.0.0.1:0", establishment: "750000002"}}
  chan_free: {{type: mllp, listen: "127.0.0.1:0"}}
destinations:
  dest_a: {{type: file, directory: {home}/a, establishment: "750000001"}}
  dest_b: {{type: file, directory: {home}/b, establishment: "750000002"}}
routes:
  - {{name: ra, from: [chan_a], to: [dest_a]}}
  - {{name: rb, from: [chan_b], to: [dest_b]}}
console:
  listen: 127.0.0.1:0
{extra}
"""


def adt(control_id: str, pid: str = "PID|1||IPP123^^^CHU^PI") -> bytes:
    """A small ADT^A01 in ISO 8859-1 (MSH-18 8859/1) with one accented name."""
    text = (
        f"MSH|^~\\&|GAM|CHU|PASSERELLE|GRADES|20261120093012||ADT^A01^ADT_A01|{control_id}|P|2.5"
        "|||||FRA|8859/1\r"
        "EVN|A01|20261120093000\r"
        f"{pid}||HÉLÈNE^Dupré\r"
    )
    return text.encode("latin-1")


@dataclass
class Console:
    """A started console; ``url`` is its base URL."""

    server: ConsoleServer
    store: Store
    config: Config
    home: Path

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10.0, **kw)

    async def add_user(
        self, name: str, role: str, establishments: Sequence[str] = (), password: str = PASSWORD
    ) -> None:
        await create_account(self.store, name, role, password, establishments, now())

    async def token(self, name: str, role: str) -> str:
        _, secret = await issue_token(self.store, name, f"{name} script", role, now())
        return secret

    @asynccontextmanager
    async def session(
        self, name: str, password: str = PASSWORD, **kw: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        """A client logged in as ``name`` whose requests carry its CSRF token."""
        async with self.client(**kw) as client:
            answer = await client.post(
                "/api/v1/session", json={"username": name, "password": password}
            )
            assert answer.status_code == 200, answer.text
            client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
            yield client


def console_config(home: Path, extra: str = "") -> Config:
    """:data:`CONFIG` for ``home``, with ``extra`` lines appended under ``console:``."""
    return load_config_text(CONFIG.format(home=home, extra=extra))


def now() -> datetime:
    return datetime.now(UTC)


@asynccontextmanager
async def running_console(
    home: Path,
    store: Store,
    *,
    extra: str = "",
    secret: bytes | None = SECRET,
    runtime: EngineRuntime | None = None,
    config: Config | None = None,
) -> AsyncIterator[Console]:
    """Start a console on ``store`` (opened by the caller) with :data:`CONFIG` (or
    ``config``)."""
    config = config or console_config(home, extra)
    ctx = ConsoleContext(store=store, config=config, patient_secret=secret, runtime=runtime)
    server = ConsoleServer(ctx)
    await server.start()
    try:
        yield Console(server, store, config, home)
    finally:
        await server.stop()


async def seed_message(
    store: Store,
    channel: str,
    control_id: str,
    *,
    destination: str | None = None,
    route: str = "ra",
    outcome: DeliveryState | None = None,
    sent: bytes | None = None,
    response: bytes | None = None,
    raw: bytes | None = None,
    keys: Sequence[bytes] = (),
) -> tuple[str, str | None]:
    """A message accepted, routed to ``destination`` (if any) with one attempt of
    ``outcome``; returns (message id, delivery id)."""
    envelope = Envelope.new(
        channel=channel,
        raw=raw or adt(control_id),
        content_type="application/hl7-v2",
        metadata={
            "hl7.control_id": control_id,
            "hl7.message_type": "ADT",
            "hl7.trigger_event": "A01",
            "hl7.charset": "8859/1",
            "hl7.codec": "iso8859-1",
        },
    )
    await store.accept(envelope)
    if keys:
        await store.add_patient_keys(envelope.id, keys)
    await store.start_processing(envelope.id)
    pairs = [(destination, route)] if destination else []
    state = MessageState.ROUTED if pairs else MessageState.UNMATCHED
    deliveries = await store.finish_routing(envelope.id, RoutingOutcome(state, "test", pairs))
    if not deliveries:
        return envelope.id, None
    delivery = deliveries[0]
    if outcome is not None:
        await store.record_attempt(
            delivery.id, outcome, f"attempt {outcome.value}", sent=sent, response=response
        )
    return envelope.id, delivery.id


__all__ = [
    "CONFIG",
    "EST_A",
    "EST_B",
    "PASSWORD",
    "SECRET",
    "Console",
    "adt",
    "console_config",
    "running_console",
    "seed_message",
]
