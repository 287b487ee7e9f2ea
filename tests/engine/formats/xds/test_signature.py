"""XAdES-BES signature of the SubmissionSet (IHE DSG enveloping, as the DMP uses it)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from engine.errors import DocumentError
from engine.formats.cda import read_cda, validate
from engine.formats.xds import (
    PreparedDocument,
    SubmissionSettings,
    build_submission,
    load_tables,
    provide_and_register,
)
from engine.formats.xds import constants as c
from engine.formats.xds.model import Submission
from engine.formats.xds.signature import (
    SIGNS,
    attach_signature,
    manifest_uri,
    signature_document,
    verify,
)
from engine.pki import make_ca, make_cert
from tests.engine.formats.cda.builders import XDS_XSD, cda

NOW = datetime(2024, 1, 5, 9, 30, tzinfo=UTC)
SETTINGS = SubmissionSettings(source_id="1.2.250.1.999.1", content_type="07")


@pytest.fixture(scope="module")
def seal() -> tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, x509.Certificate, str]:
    cert_pem, key_pem = make_cert(make_ca("Test CA"), "cachet", server=False, client=True, sans=())
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key, x509.load_pem_x509_certificate(cert_pem), cert_pem.decode()


def submission() -> Submission:
    documents = [
        PreparedDocument(
            read_cda(cda(doc_id="1.2.250.1.999.7.1")), extra_confidentiality=("MASQUE_PS",)
        ),
        PreparedDocument(read_cda(cda(doc_id="1.2.250.1.999.7.2"))),
    ]
    return build_submission(documents, SETTINGS, load_tables(), key="K1", now=NOW)


def by_unique_id(s: Submission) -> dict[str, bytes]:
    return {e.unique_id: s.documents[e.entry_uuid] for e in s.entries}


def test_the_signature_verifies_and_covers_every_document(seal) -> None:  # type: ignore[no-untyped-def]
    key, cert, pem = seal
    s = submission()
    content = signature_document(s, key, cert, now=NOW)
    verify(content, pem, by_unique_id(s))
    root = etree.fromstring(content)
    uris = root.xpath(
        "//ds:Manifest/ds:Reference/@URI", namespaces={"ds": "http://www.w3.org/2000/09/xmldsig#"}
    )
    assert uris == ["urn:oid:1.2.250.1.999.7.1", "urn:oid:1.2.250.1.999.7.2"]
    assert manifest_uri("1.2.3^AB 1") == "1.2.3%5EAB%201"


def test_tampering_is_detected(seal) -> None:  # type: ignore[no-untyped-def]
    key, cert, pem = seal
    s = submission()
    content = signature_document(s, key, cert, now=NOW)
    docs = by_unique_id(s)
    changed = dict(docs, **{"1.2.250.1.999.7.2": docs["1.2.250.1.999.7.2"] + b" "})
    with pytest.raises(DocumentError, match=r"digest of urn:oid:1\.2\.250\.1\.999\.7\.2"):
        verify(content, pem, changed)
    with pytest.raises(DocumentError, match="exactly the documents"):
        verify(content, pem, {"1.2.250.1.999.7.1": docs["1.2.250.1.999.7.1"]})
    forged = content.replace(b"urn:oid:1.2.250.1.999.7.2", b"urn:oid:1.2.250.1.999.7.9")
    with pytest.raises(DocumentError, match="core validation failed"):
        verify(forged, pem, docs)
    other_pem, _ = make_cert(make_ca("Other CA"), "other", server=False, client=True, sans=())
    with pytest.raises(DocumentError, match="core validation failed"):
        verify(content, other_pem.decode(), docs)


def test_the_signature_entry_and_the_signs_association_are_schema_valid(seal) -> None:  # type: ignore[no-untyped-def]
    key, cert, _ = seal
    s = submission()
    signed = attach_signature(s, signature_document(s, key, cert, now=NOW), key="K1", now=NOW)
    entry = signed.entries[-1]
    assert (entry.class_code.code, entry.class_code.scheme) == (
        "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1",
        "URN",
    )
    assert (entry.type_code.code, entry.type_code.scheme) == ("E1762", "ASTM")
    assert entry.format_code.code == "http://www.w3.org/2000/09/xmldsig#"
    assert entry.language == "art" and entry.mime_type == "text/xml"
    assert [x.code for x in entry.confidentiality] == ["N", "MASQUE_PS"]
    set_id = signed.submission_set.entry_uuid
    assert (SIGNS, entry.entry_uuid, set_id) in [
        (a.type, a.source, a.target) for a in signed.associations
    ]
    members = [a.target for a in signed.associations if a.type == c.HAS_MEMBER]
    assert members == [e.entry_uuid for e in signed.entries]
    if not XDS_XSD.is_file():
        pytest.skip("XDS schemas not available")
    request, _ = provide_and_register(signed, xop=False)
    assert validate(etree.fromstring(etree.tostring(request)), XDS_XSD) == []
