"""The ``fhir`` destination against the test platform: transactions, errors, modes, timeouts."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from engine.components import DeliveryContext
from engine.errors import PermanentDeliveryError, RetryableDeliveryError
from engine.sandbox.fhir_platform import FhirPlatform
from tests.channels.fhir.conftest import MakeDestination
from tests.support.fhir_bundles import IPP_SYSTEM, payload, transaction

CONTEXT = DeliveryContext("DLV1", "MSG1", "platform", 1, "GAM_CHU_C1")


async def test_transaction_reports_each_entry_and_a_resend_changes_nothing(
    platform: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=platform.base_url)
    bundle = transaction("123", "MVT1", birth_date="1980-01-02")
    assert await dest.send(payload(bundle), CONTEXT) == "201 Patient/1, 201 Encounter/1"
    # a redelivery (crash, lost answer) of the same Bundle: same resources, same versions
    assert await dest.send(payload(bundle), CONTEXT) == "200 Patient/1, 200 Encounter/1"
    (patient,) = platform.resources("Patient")
    (encounter,) = platform.resources("Encounter")
    assert patient["meta"]["versionId"] == encounter["meta"]["versionId"] == "1"
    assert encounter["subject"] == {"reference": "Patient/1"}
    assert platform.request_ids == ["DLV1-1", "DLV1-1"]


async def test_an_invalid_resource_is_a_permanent_error_with_the_outcome_text(
    platform: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=platform.base_url)
    bundle = transaction("123", "MVT1", birth_date="19800102")
    with pytest.raises(PermanentDeliveryError) as caught:
        await dest.send(payload(bundle), CONTEXT)
    text = str(caught.value)
    assert text.startswith("POST transaction: HTTP 400 Bad Request: error invalid")
    assert "[Patient.birthDate]" in text
    # the platform's free text (which may quote the refused value) stays out of the reason
    assert "19800102" not in text and "does not match" not in text
    assert caught.value.response is not None and b"19800102" in caught.value.response
    assert platform.resources("Patient") == []  # atomic: nothing applied


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_wait"),
    [(500, None, None), (503, None, None), (429, "7", 7.0), (408, None, None), (409, None, None)],
)
async def test_transient_statuses_are_retryable(
    platform: FhirPlatform,
    make_destination: MakeDestination,
    status: int,
    retry_after: str | None,
    expected_wait: float | None,
) -> None:
    dest = await make_destination(base_url=platform.base_url)
    platform.fail(status, retry_after=retry_after)
    with pytest.raises(RetryableDeliveryError) as caught:
        await dest.send(payload(transaction("1", "M1")), CONTEXT)
    assert f"HTTP {status}" in str(caught.value)
    assert "error transient" in str(caught.value)  # the OperationOutcome's issue code
    assert "test failure mode" not in str(caught.value)  # never its free text
    assert caught.value.response is not None and b"test failure mode" in caught.value.response
    assert caught.value.retry_after == expected_wait


async def test_retry_after_as_an_http_date(
    platform: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=platform.base_url)
    when = datetime.now(UTC) + timedelta(seconds=120)
    platform.fail(503, retry_after=format_datetime(when, usegmt=True))
    with pytest.raises(RetryableDeliveryError) as caught:
        await dest.send(payload(transaction("1", "M1")), CONTEXT)
    assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 120


@pytest.mark.parametrize("status", [403, 404, 412, 422])
async def test_other_client_errors_are_permanent(
    platform: FhirPlatform, make_destination: MakeDestination, status: int
) -> None:
    dest = await make_destination(base_url=platform.base_url)
    platform.fail(status)
    with pytest.raises(PermanentDeliveryError, match=f"HTTP {status}"):
        await dest.send(payload(transaction("1", "M1")), CONTEXT)


async def test_a_platform_that_is_down_is_retryable_and_the_pool_recovers(
    platform: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=platform.base_url)
    await dest.send(payload(transaction("1", "M1")), CONTEXT)  # a pooled connection exists
    platform.down()
    with pytest.raises(RetryableDeliveryError, match="connection failed"):
        await dest.send(payload(transaction("1", "M2")), CONTEXT)
    platform.up()
    assert (
        await dest.send(payload(transaction("1", "M2")), CONTEXT)
        == "200 Patient/1, 201 Encounter/2"
    )


async def test_a_slow_platform_times_out_as_retryable(
    platform: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=platform.base_url, timeout="100ms")
    platform.delay = 1.0
    with pytest.raises(RetryableDeliveryError, match="no answer within timeout"):
        await dest.send(payload(transaction("1", "M1")), CONTEXT)


async def test_a_batch_that_partly_fails_is_refused_with_the_failed_entries(
    platform: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=platform.base_url)
    good = transaction("1", "M1")
    bad = transaction("2", "M2", birth_date="not-a-date")
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [good["entry"][0], bad["entry"][0]],
    }
    with pytest.raises(PermanentDeliveryError) as caught:
        await dest.send(payload(batch), CONTEXT)
    assert str(caught.value).startswith(
        "batch: 1 of 2 entries failed (1 applied): entry 2: HTTP 400"
    )
    assert len(platform.resources("Patient")) == 1  # a batch is not atomic


async def test_resources_mode_sends_entry_by_entry_and_resolves_uuid_references(
    platform: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=platform.base_url, mode="resources")
    bundle = transaction("123", "MVT1")
    assert await dest.send(payload(bundle), CONTEXT) == "201 Patient/1, 201 Encounter/1"
    (encounter,) = platform.resources("Encounter")
    assert encounter["subject"] == {"reference": "Patient/1"}
    assert [r[:2] for r in platform.requests] == [
        ("PUT", "/fhir/Patient"),
        ("PUT", "/fhir/Encounter"),
    ]
    # a bare resource: PUT by id, else conditional update on its first identifier
    patient = copy.deepcopy(bundle["entry"][0]["resource"])
    assert await dest.send(payload(patient), CONTEXT) == "200 Patient/1"
    assert await dest.send(payload({**patient, "id": "p7"}), CONTEXT) == "201 Patient/p7"
    assert platform.requests[-1][:2] == ("PUT", "/fhir/Patient/p7")


async def test_resources_mode_stops_at_the_first_refused_entry(
    platform: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=platform.base_url, mode="resources")
    bundle = transaction("123", "MVT1")
    bundle["entry"][1]["resource"]["status"] = 42
    with pytest.raises(PermanentDeliveryError, match=r"entry 2 of 2 \(PUT Encounter\): HTTP 400"):
        await dest.send(payload(bundle), CONTEXT)
    assert len(platform.resources("Patient")) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b"MSH|^~\\&|", "application/hl7-v2", "not FHIR JSON"),
        (b"{not json", "application/fhir+json", "not valid JSON"),
        (
            b'{"resourceType": "Bundle", "type": "collection"}',
            "application/fhir+json",
            "collection",
        ),
        (b'{"resourceType": "Patient"}', "application/fhir+json", "got a Patient"),
    ],
)
async def test_unusable_payloads_are_permanent_before_any_request(
    platform: FhirPlatform,
    make_destination: MakeDestination,
    body: bytes,
    content_type: str,
    error: str,
) -> None:
    from engine.components import Payload

    dest = await make_destination(base_url=platform.base_url)
    with pytest.raises(PermanentDeliveryError, match=error):
        await dest.send(Payload(body, content_type), CONTEXT)
    assert platform.requests == []


def test_identifier_system_of_the_test_bundles_is_an_oid() -> None:
    assert IPP_SYSTEM.startswith("urn:oid:1.2.250.")
