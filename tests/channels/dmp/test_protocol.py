"""MTOM framing, SOAP envelopes, the VIHF assertion and the answer → outcome table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree
from signxml.verifier import XMLVerifier

from channels.dmp import mtom, soap
from channels.dmp.config import VihfConfig
from channels.dmp.outcome import interpret
from channels.dmp.vihf import CONFIDENTIALITY_ATTRIBUTE, SAML, SigningIdentity, signed_assertion
from engine.errors import DocumentError, PermanentDeliveryError, RetryableDeliveryError
from engine.formats.xds import RegistryError, registry_response
from tests.channels.dmp.conftest import Keys

RESOURCE = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"


def test_mtom_round_trip_with_binary_attachments() -> None:
    envelope = b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"/>'
    parts = {"a@x": bytes(range(256)) + b"\r\n--not-a-boundary\r\n", "b@x": b""}
    body, content_type = mtom.encode(envelope, parts, action="urn:a", types={"a@x": "text/xml"})
    assert content_type.startswith("multipart/related; boundary=")
    assert 'type="application/xop+xml"' in content_type and 'action="urn:a"' in content_type
    decoded = mtom.decode(body, content_type)
    assert decoded.root == envelope and dict(decoded.parts) == parts
    assert decoded.root_type.startswith("application/xop+xml")
    plain = mtom.decode(b"<x/>", "application/soap+xml")
    assert (plain.root, plain.parts) == (b"<x/>", {})
    with pytest.raises(DocumentError):
        mtom.decode(body, "multipart/related")


def test_mtom_root_part_parameters_are_quoted_one_by_one() -> None:
    # RFC 2045 §5.1 / RFC 2387, as the DMP test request: type="application/soap+xml";
    # action="..." -- never a quoted type holding the action (a strict parser reads
    # type=application/soap+xml; action= and flags a defect).
    import email

    body, content_type = mtom.encode(b"<e/>", {}, action="urn:ihe:iti:2007:X")
    parsed = email.message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    (root,) = parsed.get_payload()  # type: ignore[misc]
    assert not root.defects and not parsed.defects
    assert root.get_content_type() == "application/xop+xml"
    assert root.get_param("type") == "application/soap+xml"
    assert root.get_param("action") == "urn:ihe:iti:2007:X"
    assert root.get_param("charset") == "UTF-8"
    assert parsed.get_param("start-info") == "application/soap+xml"


def test_xop_includes_are_resolved() -> None:
    root = etree.fromstring(
        b'<d id="D1"><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" '
        b'href="cid:doc%401"/></d>'
    )
    assert mtom.resolve_includes(root, {"doc@1": b"hello"}) == {"D1": b"hello"}
    assert root.text == "aGVsbG8=" and len(root) == 0
    with pytest.raises(DocumentError, match="missing part"):
        mtom.resolve_includes(
            etree.fromstring(
                b'<d><i:Include xmlns:i="http://www.w3.org/2004/08/xop/include" href="cid:x"/></d>'
            ),
            {},
        )


def vihf_config(keys: Keys) -> VihfConfig:
    return VihfConfig(
        signing_cert_file=keys.org_cert,
        signing_key_file=keys.org_key,
        structure_id="1120459876",
        lps_homologation="DMP-LPS-TEST",
        healthcare_facility_type="SA25",
        subject_id="801234534765",
    )


def test_vihf_is_signed_and_carries_the_attributes(keys: Keys) -> None:
    config = vihf_config(keys)
    identity = SigningIdentity.load(config)
    now = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assertion = signed_assertion(config, identity, resource_id=RESOURCE, now=now)
    assert assertion.get("IssueInstant") == "2026-01-02T03:04:05.678Z"
    assert assertion.findtext(f"{{{SAML}}}Issuer") == identity.issuer_dn
    assert etree.QName(assertion[1]).localname == "Signature"  # right after the Issuer
    values = {
        a.get("Name"): (a[0].text or "").strip() or a[0][0].get("code")
        for a in assertion.iter(f"{{{SAML}}}Attribute")
    }
    assert values["urn:oasis:names:tc:xacml:2.0:resource:resource-id"] == RESOURCE
    assert values["Secteur_Activite"] == "SA25^1.2.250.1.71.4.2.4"
    assert values["VIHF_Version"] == "3.0" and values["Ressource_URN"] == "urn:dmp"
    assert values["urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"] == "normal"
    assert values["LPS_ID_HOMOLOGATION_DMP"] == "DMP-LPS-TEST"
    assert CONFIDENTIALITY_ATTRIBUTE not in values  # only for a secret connection
    secret = signed_assertion(config, identity, resource_id=RESOURCE, now=now, secret=True)
    coded = secret.find(
        f".//{{{SAML}}}Attribute[@Name='{CONFIDENTIALITY_ATTRIBUTE}']/{{{SAML}}}AttributeValue"
    )
    assert coded is not None and coded[0].get("code") == "INVISIBLE_PATIENT"
    assert coded[0].get("codeSystem") == "1.2.250.1.213.1.1.4.13"
    # the signature survives being placed in an envelope and re-parsed
    wrapped = soap.envelope(
        etree.Element("b"), action="a", to="t", message_id="m", security=assertion
    )
    again = etree.fromstring(etree.tostring(wrapped)).find(f".//{{{SAML}}}Assertion")
    assert again is not None
    standalone = etree.fromstring(etree.tostring(again))
    XMLVerifier().verify(standalone, x509_cert=keys.org_cert.read_text(), id_attribute="ID")
    standalone.find(f".//{{{SAML}}}NameID").text = "someone-else"  # type: ignore[union-attr]
    with pytest.raises(Exception, match=r"[Dd]igest"):
        XMLVerifier().verify(standalone, x509_cert=keys.org_cert.read_text(), id_attribute="ID")


def test_soap_header_and_faults() -> None:
    envelope = soap.envelope(
        etree.Element("body"), action="urn:act", to="https://x", message_id="urn:uuid:1"
    )
    header = envelope.find(f"{{{soap.SOAP12}}}Header")
    assert header is not None
    action = header.find(f"{{{soap.WSA}}}Action")
    assert action is not None and action.get(f"{{{soap.SOAP12}}}mustUnderstand") == "true"
    assert header.findtext(f"{{{soap.WSA}}}To") == "https://x"
    raw = etree.tostring(soap.fault("Receiver", "later", "dmp:Busy"))
    with pytest.raises(soap.SoapFault) as caught:
        soap.read_envelope(raw, max_bytes=10_000)
    assert (caught.value.code, caught.value.subcode, caught.value.transient) == (
        "Receiver",
        "Busy",
        True,
    )
    with pytest.raises(DocumentError):
        soap.read_envelope(b"<notsoap/>", max_bytes=10_000)


def answer(status: str, *errors: RegistryError) -> tuple[bytes, str]:
    env = soap.envelope(registry_response(status, errors), action="r", to="", message_id="m")  # type: ignore[arg-type]
    return etree.tostring(env), "application/soap+xml"


def test_outcome_table() -> None:
    body, ctype = answer("Success")
    assert interpret(200, body, ctype, max_bytes=10_000) == "DMP: Success"
    body, ctype = answer(
        "Failure", RegistryError("XDSRepositoryBusy"), RegistryError("XDSRegistryError")
    )
    with pytest.raises(RetryableDeliveryError):
        interpret(200, body, ctype, max_bytes=10_000)
    body, ctype = answer(
        "Failure", RegistryError("XDSRepositoryBusy"), RegistryError("XDSRegistryMetadataError")
    )
    with pytest.raises(PermanentDeliveryError):
        interpret(200, body, ctype, max_bytes=10_000)
    with pytest.raises(RetryableDeliveryError, match="without a usable RegistryResponse"):
        interpret(200, b"<html/>", "text/html", max_bytes=10_000)
    with pytest.raises(PermanentDeliveryError, match="HTTP 403"):
        interpret(403, b"forbidden", "text/plain", max_bytes=10_000)
    with pytest.raises(RetryableDeliveryError) as caught:
        interpret(429, b"", "", retry_after="soon", max_bytes=10_000)
    assert caught.value.retry_after is None
    with pytest.raises(RetryableDeliveryError, match="attack"):
        interpret(200, b'<!DOCTYPE x [<!ENTITY a "b">]><x/>', "text/xml", max_bytes=10_000)
