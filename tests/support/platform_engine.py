"""An engine delivering to the test FHIR platform, and the MLLP side of such tests: send a
file and wait until its deliveries are settled (sent or dead)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from engine.app import Engine
from engine.message import DeliveryState
from engine.sandbox.fhir_platform import FhirPlatform
from engine.store.base import MessageQuery
from tests.support.corpus import REPO
from tests.support.engines import mllp_port, running_engine
from tests.support.mllp import MllpPeer, msa


@asynccontextmanager
async def engine_for(platform: FhirPlatform, home: Path, config: str) -> AsyncIterator[Engine]:
    """The engine of ``config`` (a routes.yaml text with ``{home}``, ``{mappings}`` and
    ``{base_url}`` placeholders), on an emptied ``platform``."""
    platform.reset()
    text = config.format(home=home, mappings=REPO / "mappings", base_url=platform.base_url)
    async with running_engine(text) as engine:
        yield engine


async def send_file(engine: Engine, path: Path) -> str:
    """Send one message over MLLP; assert the AA; return its control id."""
    async with MllpPeer("127.0.0.1", mllp_port(engine)) as peer:
        fields = msa(await peer.exchange(path.read_bytes()))
    assert fields[1] == "AA", fields
    return fields[2]


async def settled(engine: Engine, control_id: str, count: int) -> list[DeliveryState]:
    """The delivery states of a control id once ``count`` deliveries are sent or dead."""
    final = (DeliveryState.SENT, DeliveryState.DEAD)

    async def states() -> list[DeliveryState]:
        found = await engine.store.list_messages(MessageQuery(control_id=control_id))
        return [d.state for m in found for d in await engine.store.deliveries(m.envelope.id)]

    async def poll() -> list[DeliveryState]:
        while True:
            now = await states()
            if len(now) == count and all(s in final for s in now):
                return now
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(poll(), 30)


__all__ = ["engine_for", "send_file", "settled"]
