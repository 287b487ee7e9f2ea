"""Charset damage end to end: a UTF-8-declared ADT with one ISO 8859-1 byte.

Before ``hl7.on_decode_error`` it was acknowledged AA and every FHIR delivery then
dead-lettered ("the input is not HL7v2"). Now the channel's setting decides, the same way
for the ACK and for every reader downstream (map, per-patient ordering key):

* ``reject`` (default): AE, ERR 102 at PID-5, recorded rejected, nothing delivered;
* ``replace``: AA with an ERR warning; the platform gets the patient, the bad byte as U+FFFD;
* ``fallback`` (8859/1): AA with an ERR warning; the platform gets the name as the sender
  meant it (the damaged field was written in 8859/1).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.app import Engine
from engine.message import DeliveryState, MessageState
from engine.sandbox.fhir_platform import FhirPlatform
from engine.store.base import MessageQuery, StoredMessage
from tests.support.corpus import REPO
from tests.support.engines import mllp_port, running_engine
from tests.support.mllp import MllpPeer, msa

CONFIG = """\
version: 1
engine: {{home: {home}, workers: 2, shutdown_grace: 2s, mappings: {mappings}}}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:0", hl7: {hl7}}}
destinations:
  platform:
    type: fhir
    base_url: {base_url}
    ordering: {{key: patient}}
    retry: {{max_attempts: 3, initial_backoff: 100ms, max_backoff: 200ms}}
routes:
  - name: adt_to_platform
    when: {{message_type: ADT}}
    map: pam_fr_adt_to_fr_core
    to: [platform]
"""
SAMPLE = (REPO / "samples" / "hl7v2" / "adt_a01_admission.hl7").read_bytes()
DAMAGED = SAMPLE.replace("LEGRAND^Élodie".encode(), "LEGRAND^Élodie".encode("latin-1"))
CONTROL_ID = "ADT20261120093000001"


@pytest.fixture(scope="module")
def platform() -> Iterator[FhirPlatform]:
    with FhirPlatform() as started:
        yield started


@pytest.fixture
def engine_for(tmp_path: Path, platform: FhirPlatform) -> Any:
    platform.reset()

    def make(hl7: str) -> Any:
        text = CONFIG.format(
            home=tmp_path,
            mappings=REPO / "mappings",
            base_url=platform.base_url,
            hl7=hl7,
        )
        return running_engine(text)

    return make


async def exchange(engine: Engine) -> bytes:
    async with MllpPeer("127.0.0.1", mllp_port(engine)) as peer:
        return await peer.exchange(DAMAGED)


async def settled(engine: Engine) -> tuple[StoredMessage, list[DeliveryState]]:
    async with asyncio.timeout(20):
        while True:
            [found] = await engine.store.list_messages(MessageQuery(control_id=CONTROL_ID))
            states = [d.state for d in await engine.store.deliveries(found.envelope.id)]
            if found.state.finished and all(s.finished for s in states):
                return found, states
            await asyncio.sleep(0.02)


def legal_given(platform: FhirPlatform) -> str:
    [patient] = platform.resources("Patient")
    [legal] = [n for n in patient["name"] if n.get("use") == "official"]
    assert legal["family"] == "LEGRAND"
    return str(legal["given"][0])


async def test_reject_is_the_default_and_nothing_is_delivered(
    engine_for: Any, platform: FhirPlatform
) -> None:
    async with engine_for("{}") as engine:
        ack = await exchange(engine)
        assert msa(ack)[1:3] == ["AE", CONTROL_ID]
        assert b"ERR||PID^1^5|102^Data type error^HL70357|E" in ack
        found, states = await settled(engine)
    assert found.state is MessageState.REJECTED and states == []
    assert found.reason.startswith("the message is not valid utf-8")
    assert platform.resources("Patient") == []


async def test_replace_delivers_with_the_bad_byte_replaced(
    engine_for: Any, platform: FhirPlatform
) -> None:
    async with engine_for("{on_decode_error: replace}") as engine:
        ack = await exchange(engine)
        assert msa(ack)[1:3] == ["AA", CONTROL_ID]
        assert b"ERR||PID^1^5|102^Data type error^HL70357|W" in ack
        found, states = await settled(engine)
    assert found.envelope.metadata["hl7.decode"] == "replace"
    assert states == [DeliveryState.SENT]
    assert legal_given(platform) == "\ufffdlodie"


async def test_fallback_delivers_the_name_as_the_sender_wrote_it(
    engine_for: Any, platform: FhirPlatform
) -> None:
    async with engine_for("{on_decode_error: fallback, fallback_charset: 8859/1}") as engine:
        ack = await exchange(engine)
        assert msa(ack)[1:3] == ["AA", CONTROL_ID]
        assert b"read as iso8859-1" in ack
        found, states = await settled(engine)
    metadata = found.envelope.metadata
    assert (metadata["hl7.decode"], metadata["hl7.codec"]) == ("fallback", "iso8859-1")
    assert states == [DeliveryState.SENT]
    assert legal_given(platform) == "Élodie"
