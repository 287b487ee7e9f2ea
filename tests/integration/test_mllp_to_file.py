"""An engine built from routes.yaml text: MLLP in, store, route, file out (real sockets)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.app import Engine
from engine.message import DeliveryState, MessageState
from engine.store.base import MessageQuery
from tests.support.engines import mllp_port, running_engine
from tests.support.mllp import MllpPeer, adt, msa

CONFIG = """\
version: 1
engine: {{home: {home}, workers: 2, shutdown_grace: 2s}}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:0", frame_timeout: 2s, max_frame_size: 64KiB}}
destinations:
  archive: {{type: file, directory: {home}/out}}
routes:
  - name: adt
    when: {{message_type: ADT}}
    to: [archive]
"""


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    async with running_engine(CONFIG.format(home=tmp_path)) as eng:
        yield eng


def control_ids_in_store(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:  # an independent reader, like another process
        return {r[0] for r in conn.execute("SELECT control_id FROM messages")}


async def test_each_message_is_stored_before_its_aa_and_written_to_a_file(
    engine: Engine, tmp_path: Path
) -> None:
    port = mllp_port(engine)
    sent = {f"IT{i:04d}": adt(f"IT{i:04d}") for i in range(30)}
    async with MllpPeer("127.0.0.1", port) as peer:
        for control_id, raw in sent.items():
            ack = await peer.exchange(raw)
            # Then the ACK is AA for this very message ...
            assert msa(ack)[1:3] == ["AA", control_id]
            # ... and the message was already committed when the ACK arrived
            assert control_id in control_ids_in_store(tmp_path / "store.db")

    async def all_sent() -> bool:
        found = await engine.store.list_messages(MessageQuery(limit=100))
        states = [[d.state for d in await engine.store.deliveries(m.envelope.id)] for m in found]
        return len(states) == 30 and all(s == [DeliveryState.SENT] for s in states)

    while not await all_sent():
        await asyncio.sleep(0.02)
    for control_id, raw in sent.items():
        assert (tmp_path / "out" / f"GAM_CHU-EXEMPLE_{control_id}.hl7").read_bytes() == raw


async def test_refused_frames_are_recorded_with_the_reason_and_others_flow(
    engine: Engine, tmp_path: Path
) -> None:
    port = mllp_port(engine)
    async with MllpPeer("127.0.0.1", port) as bad, MllpPeer("127.0.0.1", port) as good:
        ack = await bad.exchange(b"this is not HL7\r")
        assert msa(ack)[1] == "AR"
        no_control_id = adt("X").replace(b"|X|P|", b"||P|")
        ack = await bad.exchange(no_control_id)
        assert msa(ack)[1] == "AR" and b"101^Required field missing" in ack
        assert msa(await good.exchange(adt("OK1")))[1:3] == ["AA", "OK1"]
    rejected = await engine.store.list_messages(MessageQuery(state=MessageState.REJECTED))
    assert sorted(m.envelope.raw for m in rejected) == sorted([b"this is not HL7\r", no_control_id])
    assert all(m.reason for m in rejected)
    assert not await engine.store.deliveries(rejected[0].envelope.id)


async def test_unmatched_message_is_acked_and_kept_as_unmatched(engine: Engine) -> None:
    oru = adt("ORU1").replace(b"ADT^A01^ADT_A01", b"ORU^R01^ORU_R01")
    async with MllpPeer("127.0.0.1", mllp_port(engine)) as peer:
        assert msa(await peer.exchange(oru))[1] == "AA"
    while True:
        (m,) = await engine.store.list_messages(MessageQuery(control_id="ORU1"))
        if m.state.finished:
            break
        await asyncio.sleep(0.02)
    assert (m.state, m.reason) == (MessageState.UNMATCHED, "no route matched")
