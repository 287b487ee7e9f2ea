"""Claims across processes: a running attempt renews its lease; another owner waits."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.app import Engine
from engine.components import ComponentConfig, DeliveryContext, Destination, Payload
from engine.formats.hl7v2 import read_header
from engine.message import HL7V2, DeliveryState
from engine.router import CompiledRoute, Router
from engine.store.sqlite import SqliteStore
from tests.support.mllp import adt


class Slow(Destination[ComponentConfig]):
    """Holds every send until ``release`` is set; counts the sends."""

    def __init__(self) -> None:
        super().__init__("slow", ComponentConfig())
        self.entered, self.release = asyncio.Event(), asyncio.Event()
        self.sends = 0

    async def send(self, payload: Payload, context: DeliveryContext) -> str:
        self.sends += 1
        self.entered.set()
        await self.release.wait()
        return "ok"


async def test_a_send_longer_than_the_lease_keeps_its_claim(tmp_path: Path) -> None:
    dest = Slow()
    engine = Engine(
        store=SqliteStore(tmp_path / "store.db"),
        router=Router([CompiledRoute("all", None, (), ("slow",))]),
        destinations={"slow": dest},
        owner="node-a:1",
        lease=0.3,
        poll_interval=0.05,
        shutdown_grace=1,
    )
    other = SqliteStore(tmp_path / "store.db")  # another process on the same store
    await engine.start()
    await other.open()
    try:
        raw = adt("SLOW1")
        env = await engine.accept("in", raw, HL7V2, read_header(raw).metadata())
        await asyncio.wait_for(dest.entered.wait(), 10)
        await asyncio.sleep(1.0)  # three leases: without renewal the claim would be gone
        (delivery,) = await other.deliveries(env.id)
        assert delivery.claim_owner == "node-a:1"
        assert await other.claim_delivery(delivery.id, owner="node-b:2", lease=5) is None
        dest.release.set()
        while (await other.deliveries(env.id))[0].state is not DeliveryState.SENT:
            await asyncio.sleep(0.02)
        (sent,) = await other.deliveries(env.id)
        assert sent.claim_owner is None and dest.sends == 1
    finally:
        dest.release.set()
        await other.close()
        await engine.stop()
