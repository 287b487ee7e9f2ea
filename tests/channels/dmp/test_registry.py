"""ITI-18 and ITI-57 against the test DMP registry: replacing a document another system
published, deleting (OBX-11 D / MDM T04), changing the masking codes (MODIF_CONF_CODE),
archiving; what a real DMP refuses, refused."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from lxml import etree

from engine.components import DeliveryContext, Payload
from engine.errors import PermanentDeliveryError
from engine.formats.cda import CDA_CONTENT_TYPE, read_cda
from engine.formats.xds import (
    PreparedDocument,
    SubmissionSettings,
    build_submission,
    dmp_submission_from_hl7,
    load_tables,
    provide_and_register,
)
from engine.formats.xds import constants as c
from engine.formats.xds import registry as r
from engine.formats.xds.payload import DMP_DOCUMENTS, DmpRequest, RequestedDocument, encode
from engine.message import HL7V2, Envelope
from engine.sandbox.dmp_endpoint import DmpEndpoint
from tests.channels.dmp.conftest import Keys, MakeDestination
from tests.engine.formats.cda.builders import cda, oru

V1, V2 = "1.2.250.1.999.7.1", "1.2.250.1.999.7.2"
R = f"{{{c.RIM}}}"


def context(key: str) -> DeliveryContext:
    return DeliveryContext(f"D-{key}", f"M-{key}", "dmp", 1, key)


def foreign_entry(raw: bytes) -> etree._Element:
    """The ExtrinsicObject another system registered for ``raw``, under an entryUUID that
    Passerelle never computed."""
    settings = SubmissionSettings("1.2.250.1.999.99", "07")
    submission = build_submission(
        [PreparedDocument(read_cda(raw))], settings, load_tables(), key="other"
    )
    request, _ = provide_and_register(submission, xop=False)
    entry = next(request.iter(f"{R}ExtrinsicObject"))
    old, new = entry.get("id", ""), f"urn:uuid:{uuid.uuid4()}"
    for node in entry.iter():
        for name, value in node.attrib.items():
            if value == old:
                node.set(name, new)
    return entry


def hl7_payload(raw: bytes) -> Payload:
    return dmp_submission_from_hl7()(Envelope.new(channel="mllp_in", raw=raw, content_type=HL7V2))


async def test_a_version_of_a_document_published_by_another_system_replaces_that_entry(
    make_destination: MakeDestination, endpoint: DmpEndpoint
) -> None:
    foreign = foreign_entry(cda(doc_id=V1))
    endpoint.preload(foreign)
    destination = await make_destination(registry_url=endpoint.registry_url)
    v2 = cda(doc_id=V2, version=2, replaces=V1)
    assert (
        await destination.send(Payload(v2, CDA_CONTENT_TYPE, {}), context("v2")) == "DMP: Success"
    )
    (query,) = endpoint.registry_requests
    assert query.answer == f"{r.ITI18_ACTION} Success"
    (received,) = endpoint.accepted
    (new_entry,) = received.cda_entries
    assert (c.RPLC, new_entry, foreign.get("id")) in received.associations
    assert endpoint.registry.entries[str(foreign.get("id"))].status == r.DEPRECATED


async def test_without_a_registry_the_rplc_targets_what_passerelle_would_have_published(
    make_destination: MakeDestination, endpoint: DmpEndpoint
) -> None:
    endpoint.preload(foreign_entry(cda(doc_id=V1)))
    destination = await make_destination()
    v2 = cda(doc_id=V2, version=2, replaces=V1)
    with pytest.raises(PermanentDeliveryError, match="RPLC target is not an approved entry"):
        await destination.send(Payload(v2, CDA_CONTENT_TYPE, {}), context("v2"))


async def test_a_replacement_of_a_document_the_dmp_lacks_is_refused_before_feeding(
    make_destination: MakeDestination, endpoint: DmpEndpoint
) -> None:
    destination = await make_destination(registry_url=endpoint.registry_url)
    v2 = cda(doc_id=V2, version=2, replaces=V1)
    with pytest.raises(PermanentDeliveryError, match=r"ANS 900 .*does not hold as approved"):
        await destination.send(Payload(v2, CDA_CONTENT_TYPE, {}), context("v2"))
    assert endpoint.requests == [] and len(endpoint.registry_requests) == 1


async def test_obx11_d_deletes_through_iti57(
    make_destination: MakeDestination, endpoint: DmpEndpoint
) -> None:
    destination = await make_destination(registry_url=endpoint.registry_url)
    assert await destination.send(hl7_payload(oru(cda())), context("v1")) == "DMP: Success"
    (received,) = endpoint.accepted
    (entry_uuid,) = received.cda_entries
    detail = await destination.send(hl7_payload(oru(cda(), obx11="D")), context("del"))
    assert detail == "delete: DMP: Success"
    assert endpoint.registry.entries[entry_uuid].status == r.DELETED
    assert [q.answer for q in endpoint.registry_requests] == [
        f"{r.ITI18_ACTION} Success",
        f"{r.ITI57_ACTION} Success",
    ]
    assert len(endpoint.accepted) == 1  # no feeding for a deletion
    # deleting again: the registry refuses (Deleted is final), the delivery is dead
    with pytest.raises(PermanentDeliveryError, match="XDSMetadataUpdateError"):
        await destination.send(hl7_payload(oru(cda(), obx11="D")), context("del2"))


async def test_mdm_t04_deletes_and_only_an_author_structure_may(
    make_destination: MakeDestination, endpoint: DmpEndpoint
) -> None:
    other = cda().replace(b'extension="1120459876"', b'extension="1999999999"')
    endpoint.preload(foreign_entry(other))
    destination = await make_destination(registry_url=endpoint.registry_url)
    mdm = oru(cda(), obx11="").replace(b"ORU^R01^ORU_R01", b"MDM^T04^MDM_T02", 1)
    with pytest.raises(PermanentDeliveryError, match="only an author structure"):
        await destination.send(hl7_payload(mdm), context("t04"))
    (stored,) = endpoint.registry.entries.values()
    assert stored.status == c.APPROVED


async def test_a_masking_change_is_a_new_version_through_iti57(
    make_destination: MakeDestination, endpoint: DmpEndpoint
) -> None:
    destination = await make_destination(registry_url=endpoint.registry_url)
    plain = DmpRequest((RequestedDocument(cda()),))
    first = Payload(encode(plain), DMP_DOCUMENTS, {})
    assert await destination.send(first, context("v1")) == "DMP: Success"
    (old_uuid,) = endpoint.accepted[0].cda_entries
    flag = b"OBX|5|CE|MODIF_CONF_CODE^Modification^MetaDMPMSS||Y^^expandedYes-NoIndicator||||||F"
    masked = oru(cda()) + b"\r" + flag  # MASQUE_PS=Y in the builder's ORU
    assert await destination.send(hl7_payload(masked), context("mask")) == (
        "confidentiality: DMP: Success"
    )
    old = endpoint.registry.entries[old_uuid]
    (new,) = [
        s
        for s in endpoint.registry.entries.values()
        if s.status == c.APPROVED and s.entry.unique_id == old.entry.unique_id
    ]
    assert old.status == r.DEPRECATED and new.version == 2
    codes = new.element.xpath(
        f"r:Classification[@classificationScheme='{c.DE_CONFIDENTIALITY}']/@nodeRepresentation",
        namespaces={"r": c.RIM},
    )
    assert codes == ["N", "MASQUE_PS"]
    assert new.entry.unique_id == old.entry.unique_id and new.element.get("lid") == old_uuid


async def test_archive_and_unarchive(
    make_destination: MakeDestination, endpoint: DmpEndpoint
) -> None:
    destination = await make_destination(registry_url=endpoint.registry_url)
    await destination.send(Payload(cda(), CDA_CONTENT_TYPE, {}), context("v1"))
    (entry_uuid,) = endpoint.accepted[0].cda_entries
    for update, status in (("archive", r.ARCHIVED), ("unarchive", c.APPROVED)):
        request = DmpRequest((RequestedDocument(cda(), update=update),))
        detail = await destination.send(
            Payload(encode(request), DMP_DOCUMENTS, {}), context(update)
        )
        assert detail == f"{update}: DMP: Success"
        assert endpoint.registry.entries[entry_uuid].status == status


async def test_updates_need_a_registry(
    make_destination: MakeDestination, endpoint: DmpEndpoint
) -> None:
    destination = await make_destination()
    with pytest.raises(PermanentDeliveryError, match="set registry_url"):
        await destination.send(hl7_payload(oru(cda(), obx11="D")), context("del"))
    assert endpoint.requests == endpoint.registry_requests == []


@pytest.mark.parametrize(
    ("status", "reason"),
    [("FERME", "DMP is closed"), ("INEXISTANT", "has no DMP"), ("ACTIF", "")],
)
async def test_td02_status_gates_feeding(
    make_destination: MakeDestination, endpoint: DmpEndpoint, status: str, reason: str
) -> None:
    from tests.engine.formats.cda.builders import TEST_INS

    endpoint.dmp_status[TEST_INS] = status
    destination = await make_destination(check_dmp_status=True, status_url=endpoint.status_url)
    payload = Payload(cda(), CDA_CONTENT_TYPE, {})
    if reason:
        with pytest.raises(PermanentDeliveryError) as caught:
            await destination.send(payload, context(status))
        assert "ANS 906" in str(caught.value) and reason in str(caught.value)
        assert TEST_INS not in str(caught.value)
        assert endpoint.requests == []
    else:
        assert await destination.send(payload, context(status)) == "DMP: Success"
    assert endpoint.status_requests == [status]


async def test_the_test_dmp_runs_without_the_corpus(
    tmp_path: Path,
    keys: Keys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from channels.dmp.destination import DmpDestination
    from tests.channels.dmp.conftest import destination_config

    server = DmpEndpoint(
        server_cert=keys.tls.server_cert,
        server_key=keys.tls.server_key,
        client_ca=keys.tls.ca_cert,
        organisation_cert=keys.org_cert,
        xsd=tmp_path / "absent.xsd",
    )
    with caplog.at_level("WARNING", logger="engine.sandbox.dmp_endpoint"):
        await server.start()
    try:
        warnings = [
            r.getMessage() for r in caplog.records if "XDS schemas not found" in r.getMessage()
        ]
        assert len(warnings) == 1
        destination = DmpDestination("dmp", destination_config(keys, server.url))
        await destination.open()
        try:
            payload = Payload(cda(), CDA_CONTENT_TYPE, {})
            assert await destination.send(payload, context("no-corpus")) == "DMP: Success"
        finally:
            await destination.close()
        assert server.accepted[0].signature_verified
    finally:
        await server.stop()
