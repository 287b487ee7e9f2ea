"""No patient data in DMP refusals, in what the test DMP answers, nor in MSSanté rejections:
codes, rule names and field names only (never the INS, a name, a birth date or place)."""

from __future__ import annotations

import logging

import pytest

from engine.components import DeliveryContext, Payload
from engine.errors import PermanentDeliveryError
from engine.formats.cda import CDA_CONTENT_TYPE
from engine.formats.xds import dmp_submission_from_hl7
from engine.message import HL7V2, Envelope
from engine.sandbox.dmp_endpoint import DmpEndpoint
from tests.channels.dmp.conftest import MakeDestination
from tests.engine.formats.cda.builders import TEST_INS, cda, oru

PATIENT_VALUES = (TEST_INS, "TESTPATIENT", "ALPHA", "19790328", "51215", "IPP0001")


def assert_patient_free(*texts: str) -> None:
    """Each text is free of every value of the test patient (case-insensitive)."""
    for text in texts:
        for value in PATIENT_VALUES:
            assert value.lower() not in text.lower(), f"{value!r} leaked into: {text[:200]}"


def context(key: str) -> DeliveryContext:
    return DeliveryContext(f"D-{key}", f"M-{key}", "dmp", 1, key)


async def test_refusals_name_codes_and_fields_never_values(
    make_destination: MakeDestination, endpoint: DmpEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reasons: list[str] = []
    cases: list[tuple[dict[str, object], bytes, str]] = [
        ({}, cda(ins="279035121518988"), "903"),  # wrong NIR key
        ({}, cda(traits=False), "905"),
        ({"vihf": {"structure_id": "1999999999"}}, cda(), "906"),  # another structure
        ({"registry_url": "registry"}, cda(doc_id="1.2.9.2", replaces="1.2.9.1"), "900"),
        ({"check_dmp_status": True, "status_url": "status"}, cda(), "906"),
        ({}, cda(type_code="99999-9"), "xds_type_codes.yaml"),
        ({}, cda(facility="ZZ99"), "healthcareFacilityTypeCode"),
    ]
    endpoint.dmp_status[TEST_INS] = "FERME"
    for n, (config, document, expected) in enumerate(cases):
        if config.get("registry_url") == "registry":
            config = {"registry_url": endpoint.registry_url}
        if config.get("status_url") == "status":
            config = {"check_dmp_status": True, "status_url": endpoint.status_url}
        destination = await make_destination(**config)
        with pytest.raises(PermanentDeliveryError) as caught:
            await destination.send(Payload(document, CDA_CONTENT_TYPE, {}), context(str(n)))
        assert expected in str(caught.value)
        reasons.append(str(caught.value))
    # an HL7-carried document of an unqualified identity, and a deletion the DMP lacks
    destination = await make_destination(registry_url=endpoint.registry_url)
    for message in (oru(cda(), pid32="PROV"), oru(cda(), obx11="D")):
        envelope = Envelope.new(channel="mllp_in", raw=message, content_type=HL7V2)
        payload = dmp_submission_from_hl7()(envelope)
        with pytest.raises(PermanentDeliveryError) as caught:
            await destination.send(payload, context("hl7"))
        reasons.append(str(caught.value))
    assert_patient_free(*reasons, *(r.getMessage() for r in caplog.records))
    # what the test DMP refused or answered carries no value either
    answers = [r.refusal for r in endpoint.requests + endpoint.registry_requests]
    assert_patient_free(*answers)


def test_mssante_rejections_are_patient_free() -> None:
    from channels.mssante.compose import compose
    from tests.channels.mssante.builders import INS
    from tests.channels.mssante.builders import cda as mss_cda
    from tests.channels.mssante.test_compose_and_config import destination

    reasons = []
    for to in (["279035121518989@patient.mssante.fr"], ["x@gmail.com"]):
        with pytest.raises(PermanentDeliveryError) as caught:
            compose(Payload(mss_cda(), CDA_CONTENT_TYPE), context("m"), destination(to=to))
        reasons.append(str(caught.value))
    for text in reasons:
        assert INS not in text and "279035121518989" not in text and "EXEMPLE" not in text
