"""ADT over MLLP → PAM-FR intake → FR Core map → FHIR transaction → a faithful platform.

Issue 5's first acceptance item, end to end over real sockets: the platform holds the
right Patient and Encounter, sending the same message again changes nothing there, and a
later discharge updates the same Encounter.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.app import Engine
from engine.message import DeliveryState
from engine.sandbox.fhir_platform import FhirPlatform
from engine.store.base import MessageQuery
from tests.integration.test_adt_sequences import SEQUENCES, expected, snapshot
from tests.support.corpus import REPO
from tests.support.engines import mllp_port, running_engine
from tests.support.mllp import MllpPeer, msa

SAMPLES = REPO / "samples" / "hl7v2"
IPP = "urn:oid:1.2.250.1.71.4.2.2.123456789|100234"

CONFIG = """\
version: 1
engine: {{home: {home}, workers: 2, shutdown_grace: 2s, mappings: {mappings}}}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:0", hl7: {{validation: strict}}}}
destinations:
  platform:
    type: fhir
    base_url: {base_url}
    ordering: {{key: patient}}
    retry: {{max_attempts: 5, initial_backoff: 100ms, max_backoff: 500ms}}
routes:
  - name: adt_to_platform
    when: {{message_type: ADT}}
    map: pam_fr_adt_to_fr_core
    to: [platform]
"""


@pytest.fixture(scope="module")
def platform() -> Iterator[FhirPlatform]:
    with FhirPlatform() as started:
        yield started


@pytest.fixture
async def engine(tmp_path: Path, platform: FhirPlatform) -> AsyncIterator[Engine]:
    platform.reset()
    text = CONFIG.format(home=tmp_path, mappings=REPO / "mappings", base_url=platform.base_url)
    async with running_engine(text) as eng:
        yield eng


async def send(engine: Engine, name: str) -> str:
    raw = (SAMPLES / name).read_bytes()
    async with MllpPeer("127.0.0.1", mllp_port(engine)) as peer:
        fields = msa(await peer.exchange(raw))
    assert fields[1] == "AA", fields
    return fields[2]


async def delivered(engine: Engine, control_id: str, count: int = 1) -> None:
    async def done() -> bool:
        found = await engine.store.list_messages(MessageQuery(control_id=control_id))
        states = [d.state for m in found for d in await engine.store.deliveries(m.envelope.id)]
        return len(states) == count and all(s is DeliveryState.SENT for s in states)

    async def poll() -> None:
        while not await done():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), 15)


def one(platform: FhirPlatform, kind: str, system_value: str) -> dict[str, Any]:
    system, _, value = system_value.partition("|")
    matches = [
        r
        for r in platform.resources(kind)
        if any(i.get("system") == system and i.get("value") == value for i in r["identifier"])
    ]
    assert len(matches) == 1, f"{len(matches)} {kind} with {system_value}"
    return matches[0]


async def test_admission_lands_as_patient_and_encounter_and_a_resend_changes_nothing(
    engine: Engine, platform: FhirPlatform
) -> None:
    # Given an admission sent over MLLP
    control_id = await send(engine, "adt_a01_admission.hl7")
    await delivered(engine, control_id)
    # Then the platform holds the patient with IPP and test INS, and the stay
    patient = one(platform, "Patient", IPP)
    ins = [i for i in patient["identifier"] if i["system"] == "urn:oid:1.2.250.1.213.1.4.10"]
    assert [i["value"] for i in ins] == ["285074410912393"]
    assert (patient["gender"], patient["birthDate"]) == ("female", "1985-07-12")
    assert {n["use"]: n["family"] for n in patient["name"]} == {
        "official": "LEGRAND",
        "usual": "MOREAU",
    }
    stay = one(platform, "Encounter", "urn:oid:1.2.250.1.71.4.2.2.123456789|2600001234-V1")
    assert (stay["status"], stay["class"]["code"]) == ("in-progress", "IMP")
    assert stay["subject"]["reference"] == f"Patient/{patient['id']}"
    assert stay["period"] == {"start": "2026-11-20T09:30:00+01:00"}
    before = {
        kind: {r["id"]: r["meta"]["versionId"] for r in platform.resources(kind)}
        for kind in ("Patient", "Encounter")
    }

    # When the sender sends the very same message again
    await send(engine, "adt_a01_admission.hl7")
    await delivered(engine, control_id, count=2)
    # Then nothing changed on the platform: same resources, same versions
    after = {
        kind: {r["id"]: r["meta"]["versionId"] for r in platform.resources(kind)}
        for kind in ("Patient", "Encounter")
    }
    assert after == before


async def test_discharge_updates_the_same_stay(engine: Engine, platform: FhirPlatform) -> None:
    await delivered(engine, await send(engine, "adt_a01_admission.hl7"))
    await delivered(engine, await send(engine, "adt_a03_discharge.hl7"))
    stay = one(platform, "Encounter", "urn:oid:1.2.250.1.71.4.2.2.123456789|2600001234-V1")
    assert stay["status"] == "finished"
    assert stay["period"] == {
        "start": "2026-11-20T09:30:00+01:00",
        "end": "2026-11-24T11:00:00+01:00",
    }
    assert stay["meta"]["versionId"] == "2"
    assert len(platform.resources("Patient")) == 1


@pytest.mark.parametrize(
    "name",
    ["transfers_then_discharge", "discharge_then_resent_admission", "merge_two_patients"],
)
async def test_sequence_over_mllp_ends_in_the_expected_state(
    name: str, engine: Engine, platform: FhirPlatform
) -> None:
    # Given the messages of a sequence sent over MLLP, one after the other (strict PAM-FR)
    for raw in SEQUENCES[name]:
        async with MllpPeer("127.0.0.1", mllp_port(engine)) as peer:
            fields = msa(await peer.exchange(raw))
        assert fields[1] == "AA", fields
    for raw in SEQUENCES[name]:
        control_id = raw.split(b"\r")[0].split(b"|")[9].decode()
        await delivered(engine, control_id, count=SEQUENCES[name].count(raw))
    # Then the platform holds exactly what the direct run of the same sequence gives
    state = snapshot(platform)
    assert state == expected(name, state)
