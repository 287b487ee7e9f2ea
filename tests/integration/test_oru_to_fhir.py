"""ORU over MLLP → FR Core map → FHIR transaction → a faithful platform.

Laboratory results as labs send them are all delivered (none dead-lettered); a resend of
every result changes nothing on the platform; a correction (OBX-11 C) replaces the lab's
previous version of the same Observation instead of adding one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.app import Engine
from engine.message import DeliveryState
from engine.sandbox.fhir_platform import FhirPlatform
from tests.support.corpus import REPO
from tests.support.platform_engine import engine_for, send_file, settled

INPUTS = REPO / "tests" / "routes" / "inputs"
SAMPLES = REPO / "samples" / "hl7v2"
LAB = "urn:oid:1.2.250.1.71.4.2.2.123456789"
RESULTS = [
    "oru_r01_lab_results.hl7",
    "oru_r01_repeated_code.hl7",
    "oru_r01_comparator.hl7",
    "oru_r01_decimal_comma.hl7",
    "oru_r01_structured_numeric.hl7",
    "oru_r01_not_performed.hl7",
    "oru_r01_empty_obr25.hl7",
    "oru_r01_lab_report.hl7",
    "oru_r01_by_ins.hl7",  # no IPP: the patient by its INS
]
KINDS = ("Patient", "Encounter", "DiagnosticReport", "Observation", "Specimen")

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
    retry: {{max_attempts: 3, initial_backoff: 100ms, max_backoff: 500ms}}
routes:
  - name: adt_to_platform
    when: {{message_type: ADT}}
    map: pam_fr_adt_to_fr_core
    to: [platform]
  - name: lab_results
    when: {{message_type: ORU, trigger_event: R01}}
    map: oru_to_fr_core
    to: [platform]
"""


@pytest.fixture(scope="module")
def lab_platform() -> Iterator[FhirPlatform]:
    with FhirPlatform() as started:
        yield started


@pytest.fixture
async def engine(tmp_path: Path, lab_platform: FhirPlatform) -> AsyncIterator[Engine]:
    async with engine_for(lab_platform, tmp_path, CONFIG) as started:
        yield started


def snapshot(platform: FhirPlatform) -> dict[str, dict[str, Any]]:
    return {
        kind: {r["id"]: (r["meta"]["versionId"], r) for r in platform.resources(kind)}
        for kind in KINDS
    }


def observation(platform: FhirPlatform, value: str) -> dict[str, Any]:
    found = [
        r
        for r in platform.resources("Observation")
        if {"system": LAB, "value": value} in r["identifier"]
    ]
    assert len(found) == 1, value
    return found[0]


async def test_results_as_labs_send_them_are_delivered_and_a_resend_changes_nothing(
    engine: Engine, lab_platform: FhirPlatform
) -> None:
    platform = lab_platform
    # Given the patient's admission, then every kind of result
    assert await settled(engine, await send_file(engine, SAMPLES / "adt_a01_admission.hl7"), 1) == [
        DeliveryState.SENT
    ]
    ids = [await send_file(engine, INPUTS / name) for name in RESULTS]
    for control_id in ids:
        assert await settled(engine, control_id, 1) == [DeliveryState.SENT], control_id
    # Then the platform holds each result once, with the right values
    assert len(platform.resources("DiagnosticReport")) == 10
    assert len(platform.resources("Specimen")) == 1
    repeated = [observation(platform, f"LAB-26-004600-600-7-obx{n}") for n in (1, 2)]
    assert [o["valueString"] for o in repeated] == ["Staphylococcus aureus", "Escherichia coli"]
    crp = observation(platform, "LAB-26-004601-1988-5-obx1")["valueQuantity"]
    assert (crp["comparator"], crp["value"]) == ("<", 0.5)
    potassium = observation(platform, "LAB-26-004602-2823-3-obx1")
    assert potassium["valueQuantity"]["value"] == 5.6
    bacteria = observation(platform, "LAB-26-004603-630-4-obx1")["valueQuantity"]
    assert (bacteria["comparator"], bacteria["value"]) == (">", 10)
    platelets = observation(platform, "LAB-26-004604-777-3-obx2")
    assert platelets["status"] == "cancelled" and "valueQuantity" not in platelets
    (patient,) = platform.resources("Patient")
    assert potassium["subject"] == {"reference": f"Patient/{patient['id']}"}
    by_ins = observation(platform, "LAB-26-004607-1988-5-obx1")
    assert by_ins["subject"] == {"reference": f"Patient/{patient['id']}"}
    before = snapshot(platform)

    # When every result is sent again
    for name, control_id in zip(RESULTS, ids, strict=True):
        await send_file(engine, INPUTS / name)
        assert await settled(engine, control_id, 2) == [DeliveryState.SENT] * 2
    # Then nothing changed: same resources, same versions, same content
    assert snapshot(platform) == before

    # When the lab corrects the potassium (OBX-11 C)
    corrected = await send_file(engine, INPUTS / "oru_r01_decimal_comma_corrected.hl7")
    assert await settled(engine, corrected, 1) == [DeliveryState.SENT]
    # Then its Observation is replaced, not duplicated
    after = observation(platform, "LAB-26-004602-2823-3-obx1")
    assert after["id"] == potassium["id"]
    assert (after["status"], after["valueQuantity"]["value"]) == ("corrected", 4.9)
    assert after["meta"]["versionId"] == "2"
    assert len(platform.resources("Observation")) == len(before["Observation"])
