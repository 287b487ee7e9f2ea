"""The ``dmp_xds`` destination against the faithful test DMP endpoint (real HTTPS, mTLS)."""

from __future__ import annotations

import dataclasses
import ssl

import pytest
from lxml import etree

from channels.dmp.destination import DmpDestination
from engine.components import DeliveryContext, Payload
from engine.errors import (
    ChannelError,
    DocumentError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from engine.formats.cda import CDA_CONTENT_TYPE, Action, read_cda
from engine.formats.xds import DMP_DOCUMENTS, RegistryError, check_cda, entry_uuid_for
from engine.formats.xds import constants as c
from engine.formats.xds.model import Submission
from engine.formats.xds.payload import DmpRequest, RequestedDocument, encode
from engine.formats.xds.signature import SIGNS
from engine.sandbox.dmp_endpoint import Answer, DmpEndpoint
from tests.channels.dmp.conftest import Keys, MakeDestination, destination_config
from tests.engine.formats.cda.builders import ANS_EXAMPLES, CDA_XSD, NO_CORPUS, TEST_INS, cda

needs_examples = pytest.mark.skipif(not ANS_EXAMPLES.is_dir(), reason=NO_CORPUS)
REPLACEMENT = ANS_EXAMPLES.parent.parent.parent / "hl7v2/ans/Vague 2/Trans_Doc-CDA-HL7V2"
PAIR = REPLACEMENT / "TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/ORU"


def payload(raw: bytes, **metadata: str) -> Payload:
    return Payload(raw, CDA_CONTENT_TYPE, metadata)


def context(key: str = "K1", attempt: int = 1) -> DeliveryContext:
    return DeliveryContext(f"D-{key}", f"M-{key}", "dmp", attempt, key)


async def test_a_lab_report_is_registered(
    make_destination: MakeDestination, endpoint: DmpEndpoint
) -> None:
    destination = await make_destination()
    assert await destination.send(payload(cda()), context()) == "DMP: Success"
    (received,) = endpoint.accepted
    (entry,) = received.cda_entries.values()
    assert entry["uniqueId"] == "1.2.250.1.999.7.1" and entry["mimeType"] == "text/xml"
    assert entry[c.DE_CLASS] == "10" and entry[c.DE_FORMAT] == "urn:ihe:lab:xd-lab:2008"
    assert received.cda_documents == {entry_uuid_for("1.2.250.1.999.7.1"): cda()}
    assert received.vihf["Authentification_Mode"] == "INDIRECTE"
    assert received.vihf["urn:oasis:names:tc:xacml:2.0:resource:resource-id"] == (
        f"{TEST_INS}^^^&1.2.250.1.213.1.4.10&ISO^NH"
    )
    assert received.vihf["urn:oasis:names:tc:xacml:2.0:subject:role"] == "AUTOMATE"


def _structure_of(raw: bytes) -> str:
    """The national id of the first author's organisation (IdNat_Struct) of a CDA."""
    root = etree.fromstring(raw)
    ids = root.xpath(
        "/cda:ClinicalDocument/cda:author/cda:assignedAuthor/cda:representedOrganization/"
        "cda:id[@root='1.2.250.1.71.4.2.2']/@extension",
        namespaces={"cda": "urn:hl7-org:v3"},
    )
    return str(ids[0]) if ids else "none"


def _ans_examples() -> list[str]:
    return sorted(p.name for p in ANS_EXAMPLES.glob("*.xml")) if ANS_EXAMPLES.is_dir() else []


@needs_examples
@pytest.mark.parametrize("name", _ans_examples())
async def test_every_ans_example_is_registered_or_refused_with_the_table_named(
    make_destination: MakeDestination, endpoint: DmpEndpoint, name: str
) -> None:
    raw = (ANS_EXAMPLES / name).read_bytes()
    try:
        header = read_cda(raw).header
    except DocumentError:
        pytest.skip("not a CDA document the DMP path reads")
    # indirect authentication: the structure of the VIHF is the documents' authorInstitution
    structure = _structure_of(raw)
    destination = await make_destination(
        vihf={"structure_id": structure},
        default_facility_type="SA01",
        default_practice_setting="ETABLISSEMENT",
        header_rules="warn",
    )
    gated = check_cda(header)
    expected = (
        r"xds_format_by_template\.yaml \(ASS_A11\)"  # no line for the TROD model
        if name.startswith("BIO-TROD_")
        else f"ANS {gated[0].code}"  # the example's fake INS has a wrong NIR key
        if gated
        else r"ANS 906 .*Identifiant_Structure"  # no author with a structure id
        if structure == "none"
        else r"RPLC target is not an approved entry"  # a v2 whose v1 the DMP never had
        if header.replaces
        else ""
    )
    if expected:
        with pytest.raises(PermanentDeliveryError, match=expected):
            await destination.send(payload(raw), context(name))
        assert endpoint.accepted == []
        return
    assert await destination.send(payload(raw), context(name)) == "DMP: Success"
    (received,) = endpoint.accepted
    entry = next(e for e in received.cda_entries.values() if e["uniqueId"])
    assert received.cda_documents and raw in received.cda_documents.values()
    assert received.signature_verified  # XAdES over this document, signs the set
    expected_mime = "application/xslt+xml" if "Auto-Presentable" in name else "text/xml"
    assert entry["mimeType"] == expected_mime


@needs_examples
async def test_a_document_of_another_structure_is_refused_before_any_call(
    make_destination: MakeDestination, endpoint: DmpEndpoint
) -> None:
    raw = (ANS_EXAMPLES / "LDL-SES_2022.01.xml").read_bytes()
    assert _structure_of(raw) != "1120459876"  # the configured structure (conftest)
    destination = await make_destination()
    with pytest.raises(PermanentDeliveryError) as caught:
        await destination.send(payload(raw), context("other-structure"))
    assert "ANS 906" in str(caught.value) and "Identifiant_Structure" in str(caught.value)
    assert _structure_of(raw) not in str(caught.value)
    assert endpoint.requests == []


@pytest.mark.skipif(not PAIR.is_dir(), reason=NO_CORPUS)
async def test_version_2_replaces_version_1_with_an_rplc_association(
    make_destination: MakeDestination, endpoint: DmpEndpoint
) -> None:
    destination = await make_destination()
    v1 = (PAIR / "Transmission initiale ORU/SEGUR_CR-BIO_2023.01_Electrophorese.xml").read_bytes()
    v2 = (PAIR / "Remplacement ORU/SEGUR_CR_Bio_CDA_Niv3_v2.xml").read_bytes()
    assert await destination.send(payload(v1), context("V1")) == "DMP: Success"
    assert await destination.send(payload(v2), context("V2")) == "DMP: Success"
    first, second = endpoint.accepted
    (old_entry,) = first.cda_entries
    (new_entry,) = second.cda_entries
    assert (c.RPLC, new_entry, old_entry) in second.associations
    assert old_entry in endpoint.deprecated


async def test_replacement_of_an_unknown_version_is_refused_by_the_registry(
    make_destination: MakeDestination,
) -> None:
    destination = await make_destination()
    v2 = cda(doc_id="1.2.250.1.999.7.2", version=2, replaces="1.2.250.1.999.7.99")
    with pytest.raises(PermanentDeliveryError, match="UnresolvedReferenceException"):
        await destination.send(payload(v2), context())


@pytest.mark.parametrize(
    ("raw", "metadata", "code"),
    [
        (cda(ins=None), {}, "ANS 903"),
        (cda(traits=False), {}, "ANS 905"),
        (cda(), {"ins.qualified": "false"}, "ANS 903"),
        (cda(), {"dmp.opposition": "true"}, "ANS 906"),
    ],
    ids=["no-ins", "no-traits", "not-qualified", "opposition"],
)
async def test_refused_documents_never_reach_the_endpoint(
    make_destination: MakeDestination,
    endpoint: DmpEndpoint,
    raw: bytes,
    metadata: dict[str, str],
    code: str,
) -> None:
    destination = await make_destination()
    with pytest.raises(PermanentDeliveryError) as caught:
        await destination.send(payload(raw, **metadata), context())
    assert code in str(caught.value) and TEST_INS not in str(caught.value)
    assert endpoint.requests == []


async def test_hl7_documents_payload_with_several_documents_and_actions(
    make_destination: MakeDestination, endpoint: DmpEndpoint
) -> None:
    destination = await make_destination()
    docs = (
        RequestedDocument(cda(), Action.INITIAL, None, ("MASQUE_PS",)),
        RequestedDocument(cda(doc_id="1.2.250.1.999.7.5", level=1)),
    )
    body = encode(DmpRequest(docs, {"ins.qualified": "true"}, content_type="03"))
    assert await destination.send(Payload(body, DMP_DOCUMENTS), context()) == "DMP: Success"
    (received,) = endpoint.accepted
    assert len(received.cda_entries) == 2
    assert received.submission_set  # one set, two HasMember
    deletion = encode(DmpRequest((RequestedDocument(cda(), Action.DELETE),)))
    with pytest.raises(PermanentDeliveryError, match="ITI-57"):
        await destination.send(Payload(deletion, DMP_DOCUMENTS), context("DEL"))
    orphan = encode(DmpRequest((RequestedDocument(cda(doc_id="9.9"), Action.REPLACE),)))
    with pytest.raises(PermanentDeliveryError, match="ANS 900"):
        await destination.send(Payload(orphan, DMP_DOCUMENTS), context("RPL"))
    not_for_dmp = encode(DmpRequest((RequestedDocument(cda()),), destined=False))
    detail = await destination.send(Payload(not_for_dmp, DMP_DOCUMENTS), context("N"))
    assert detail.startswith("not sent") and len(endpoint.requests) == 1


async def test_a_redelivery_of_a_registered_document_counts_as_delivered(
    make_destination: MakeDestination, endpoint: DmpEndpoint
) -> None:
    destination = await make_destination()
    await destination.send(payload(cda()), context())
    detail = await destination.send(payload(cda()), context(attempt=2))
    assert detail.startswith("DMP: already registered")
    changed = cda().replace(b"Compte rendu de test", b"Compte rendu modifie")
    with pytest.raises(PermanentDeliveryError, match="XDSNonIdenticalHash"):
        await destination.send(payload(changed), context("K2"))


@pytest.mark.parametrize(
    ("answer", "error", "text"),
    [
        (
            Answer("Failure", (RegistryError("XDSUnknownPatientId", "inconnu"),)),
            PermanentDeliveryError,
            "XDSUnknownPatientId",
        ),
        (
            Answer("Failure", (RegistryError("XDSRegistryBusy", "busy"),)),
            RetryableDeliveryError,
            "XDSRegistryBusy",
        ),
        (
            Answer("Failure", (RegistryError("DMPClosed", "DMP fermé"),)),
            PermanentDeliveryError,
            "DMPClosed",
        ),
        (
            Answer(fault=("Receiver", "temporarily unavailable")),
            RetryableDeliveryError,
            "SOAP fault Receiver",
        ),
        (Answer(fault=("Sender", "bad request")), PermanentDeliveryError, "SOAP fault Sender"),
        (Answer(http=503, retry_after="7"), RetryableDeliveryError, "HTTP 503"),
        (Answer(http=500), RetryableDeliveryError, "HTTP 500"),
        (Answer(http=404), PermanentDeliveryError, "HTTP 404"),
    ],
)
async def test_registry_answers_become_delivery_outcomes(
    make_destination: MakeDestination,
    endpoint: DmpEndpoint,
    answer: Answer,
    error: type[Exception],
    text: str,
) -> None:
    destination = await make_destination()
    endpoint.script(answer)
    with pytest.raises(error, match=text) as caught:
        await destination.send(payload(cda()), context())
    if answer.retry_after:
        assert isinstance(caught.value, RetryableDeliveryError)
        assert caught.value.retry_after == 7.0


async def test_partial_success_is_delivered_with_the_errors(
    make_destination: MakeDestination, endpoint: DmpEndpoint
) -> None:
    destination = await make_destination()
    endpoint.script(Answer("PartialSuccess", (RegistryError("XDSExtraMetadataNotSaved", "x"),)))
    detail = await destination.send(payload(cda()), context())
    assert detail == "DMP: PartialSuccess: XDSExtraMetadataNotSaved: x"


async def test_an_assertion_signed_by_another_key_is_refused(
    make_destination: MakeDestination, endpoint: DmpEndpoint, keys: Keys
) -> None:
    rogue = {"signing_cert_file": str(keys.rogue_cert), "signing_key_file": str(keys.rogue_key)}
    destination = await make_destination(vihf=rogue)
    with pytest.raises(PermanentDeliveryError, match="FailedAuthentication"):
        await destination.send(payload(cda()), context())
    assert endpoint.accepted == []


async def test_the_set_is_signed_and_the_test_dmp_verifies_it(
    make_destination: MakeDestination, endpoint: DmpEndpoint, keys: Keys
) -> None:
    destination = await make_destination()
    assert await destination.send(payload(cda()), context()) == "DMP: Success"
    (received,) = endpoint.accepted
    assert received.signature_verified
    (signature,) = set(received.entries) - set(received.cda_entries)
    values = received.entries[signature]
    assert values[c.DE_CLASS] == "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1"
    assert (values[c.DE_TYPE], values[c.DE_FORMAT], values["language"]) == (
        "E1762",
        "http://www.w3.org/2000/09/xmldsig#",
        "art",
    )
    set_id = next(t for k, src, t in received.associations if k == SIGNS and src == signature)
    assert (c.HAS_MEMBER, set_id, signature) in received.associations
    # a seal that is not the structure's: the XAdES signature does not verify
    rogue = {"seal_cert_file": str(keys.rogue_cert), "seal_key_file": str(keys.rogue_key)}
    other = await make_destination(**rogue)
    with pytest.raises(PermanentDeliveryError, match="XAdES signature: core validation"):
        await other.send(payload(cda(doc_id="1.2.250.1.999.7.3")), context("rogue"))


class _Unsigned(DmpDestination):
    def _signed(self, submission: Submission, *, key: str) -> Submission:
        return submission


class _NoSignsAssociation(DmpDestination):
    def _signed(self, submission: Submission, *, key: str) -> Submission:
        signed = super()._signed(submission, key=key)
        kept = tuple(a for a in signed.associations if a.type != SIGNS)
        return dataclasses.replace(signed, associations=kept)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [(_Unsigned, "not signed once"), (_NoSignsAssociation, "no signs association")],
)
async def test_the_test_dmp_refuses_an_unsigned_set(
    endpoint: DmpEndpoint, keys: Keys, kind: type[DmpDestination], reason: str
) -> None:
    destination = kind("dmp", destination_config(keys, endpoint.url))
    await destination.open()
    try:
        with pytest.raises(PermanentDeliveryError, match=reason):
            await destination.send(payload(cda()), context())
    finally:
        await destination.close()
    assert endpoint.accepted == []


async def test_mutual_tls_is_required(
    make_destination: MakeDestination, endpoint: DmpEndpoint, keys: Keys
) -> None:
    stranger = {"cert_file": str(keys.rogue_cert), "key_file": str(keys.rogue_key)}
    destination = await make_destination(tls=stranger)
    with pytest.raises(RetryableDeliveryError, match="DMP unreachable"):
        await destination.send(payload(cda()), context())
    assert endpoint.requests == []


async def test_unreachable_dmp_is_retried(make_destination: MakeDestination) -> None:
    destination = await make_destination(url="https://127.0.0.1:9/repository")
    with pytest.raises(RetryableDeliveryError, match="DMP unreachable"):
        await destination.send(payload(cda()), context())


async def test_open_reports_unusable_settings(
    make_destination: MakeDestination, keys: Keys
) -> None:
    with pytest.raises(ChannelError, match="content_type_code"):
        await make_destination(content_type_code="XX")
    with pytest.raises(ChannelError, match="signing certificate"):
        await make_destination(vihf={"signing_key_file": "/nonexistent.key"})
    assert ssl.OPENSSL_VERSION


async def test_header_rules_and_schema_are_checked_before_sending(
    make_destination: MakeDestination, endpoint: DmpEndpoint
) -> None:
    if not CDA_XSD.is_file():
        pytest.skip(NO_CORPUS)
    strict = await make_destination(cda_schema=str(CDA_XSD))
    no_realm = cda().replace(b'<realmCode code="FR"/>', b"")
    with pytest.raises(PermanentDeliveryError, match="FR-HDR-02"):
        await strict.send(payload(no_realm), context("A"))
    invalid = cda().replace(b"<title>", b"<bogus/><title>")
    with pytest.raises(PermanentDeliveryError, match="not valid against the CDA schema"):
        await strict.send(payload(invalid), context("B"))
    assert endpoint.requests == []
    lenient = await make_destination(header_rules="warn")
    assert await lenient.send(payload(no_realm), context("C")) == "DMP: Success"
