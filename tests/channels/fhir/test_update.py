"""The fhir destination's read–merge–conditional update against the test platform: a
concurrent change between read and write is detected (412) and the destination reads again;
a platform that keeps changing makes the delivery retryable; the payload's markers never
reach the platform."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from channels.fhir.bundle import Request
from channels.fhir.update import ROUNDS, apply
from engine.components import DeliveryContext, Payload
from engine.errors import PermanentDeliveryError, RetryableDeliveryError
from engine.mapping.loader import compile_map
from engine.sandbox.fhir_platform import FhirPlatform
from tests.channels.fhir.conftest import MakeDestination
from tests.support.adt_messages import adt
from tests.support.corpus import REPO

CONTEXT = DeliveryContext("DLV1", "MSG1", "platform", 1, "K1")
MAP = compile_map(REPO / "mappings" / "pam_fr_adt_to_fr_core.yaml")
A01 = adt("A01", 1, at="202611200930", movement="M1")
A02 = adt("A02", 2, at="202611211430", movement="M2", bed="USIC^12^1", uf="4405")


def bundle_of(raw: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(MAP.dumps(MAP.apply(raw)))
    return result


def touch_patient(platform: FhirPlatform) -> None:
    """Someone else updates the Patient (a new version)."""
    (patient,) = platform.resources("Patient")
    patient["telecom"] = [{"system": "phone", "value": str(len(platform.requests))}]
    status, _, _ = platform.repo.rest("PUT", f"Patient/{patient['id']}", patient)
    assert status == 200


async def test_a_change_between_read_and_write_is_read_again(
    platform: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=platform.base_url)
    await dest.send(Payload(MAP.dumps(MAP.apply(A01)), "application/fhir+json"), CONTEXT)
    rounds = 0

    async def call(request: Request, what: str, accept: tuple[int, ...]) -> httpx.Response:
        nonlocal rounds
        if what == "POST transaction":
            rounds += 1
            if rounds == 1:
                touch_patient(platform)  # after our read, before our write
        return await dest._call(request, what, CONTEXT, accept)

    detail = await apply(bundle_of(A02), call)
    assert rounds == 2 and detail.startswith("200 ")
    assert [s for m, _, s in platform.requests if m == "POST"].count(412) == 1
    (patient,) = platform.resources("Patient")
    assert patient["telecom"][0]["value"]  # the concurrent change is kept
    stay = [e for e in platform.resources("Encounter") if e["identifier"][0]["value"] == "M2"]
    assert stay and stay[0]["status"] == "in-progress"


async def test_a_platform_that_keeps_changing_makes_the_delivery_retryable(
    platform: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=platform.base_url)
    await dest.send(Payload(MAP.dumps(MAP.apply(A01)), "application/fhir+json"), CONTEXT)

    async def call(request: Request, what: str, accept: tuple[int, ...]) -> httpx.Response:
        if what == "POST transaction":
            touch_patient(platform)
        return await dest._call(request, what, CONTEXT, accept)

    with pytest.raises(RetryableDeliveryError, match="412"):
        await apply(bundle_of(A02), call)
    assert [s for m, _, s in platform.requests if m == "POST"].count(412) == ROUNDS


async def test_markers_never_reach_the_platform(
    platform: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=platform.base_url)
    for raw in (A01, A02):
        await dest.send(Payload(MAP.dumps(MAP.apply(raw)), "application/fhir+json"), CONTEXT)
    text = json.dumps(platform.resources("Patient") + platform.resources("Encounter"))
    assert "update-role" not in text and "/delete" not in text and "/default" not in text
    assert "last-event" in text  # the event record is kept, by design


async def test_merged_updates_need_transaction_mode(
    platform: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=platform.base_url, mode="resources")
    with pytest.raises(PermanentDeliveryError, match="mode: transaction"):
        await dest.send(Payload(MAP.dumps(MAP.apply(A01)), "application/fhir+json"), CONTEXT)
    assert platform.requests == []


async def test_a_redelivery_sends_no_write(
    platform: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=platform.base_url)
    payload = Payload(MAP.dumps(MAP.apply(A01)), "application/fhir+json")
    await dest.send(payload, CONTEXT)
    before = len(platform.requests)
    assert await dest.send(payload, CONTEXT) == "unchanged: the platform already holds this"
    # two read batches, no transaction
    assert [m for m, _, _ in platform.requests[before:]] == ["POST", "POST"]


async def test_an_ins_without_every_trait_is_recorded_in_the_delivery_detail(
    platform: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=platform.base_url)
    no_birth_place = A01.replace(b"~^^^^^FRA^BDL^^44109", b"")
    detail = await dest.send(
        Payload(MAP.dumps(MAP.apply(no_birth_place)), "application/fhir+json"), CONTEXT
    )
    assert detail.endswith("(patient claims fr-core-patient, INS traits missing: birthPlace)")
    (patient,) = platform.resources("Patient")
    assert patient["meta"]["profile"][0].endswith("/fr-core-patient")
    # a later message with the birth place completes the traits: the INS profile is claimed
    await dest.send(Payload(MAP.dumps(MAP.apply(A02)), "application/fhir+json"), CONTEXT)
    (patient,) = platform.resources("Patient")
    assert patient["meta"]["profile"][0].endswith("/fr-core-patient-ins")


async def test_a_marked_resource_without_an_identifier_is_a_permanent_error(
    platform: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=platform.base_url)
    bundle = bundle_of(A01)
    del bundle["entry"][0]["resource"]["identifier"]
    with pytest.raises(PermanentDeliveryError, match="has no identifier"):
        await dest.send(Payload(json.dumps(bundle).encode(), "application/fhir+json"), CONTEXT)
    assert platform.requests == []
