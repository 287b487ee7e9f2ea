"""XAdES-BES signature of a SubmissionSet, as the DMP feeding (TD2) expects it: an IHE DSG
enveloping XML signature (ITI TF-3 §5.5) whose ``ds:Manifest`` lists every document of the
set by uniqueId with its SHA-256, with XAdES ``SignedProperties`` (signing time, signing
certificate, purpose of signature ``1.2.840.10065.1.12.1.14`` "Source"), signed with the
structure's seal certificate (certificat de cachet).

:func:`signature_document` builds the signature bytes; :func:`attach_signature` adds it to a
:class:`Submission` as its own DocumentEntry (classCode ``urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1``,
typeCode ``E1762``, formatCode ``http://www.w3.org/2000/09/xmldsig#``, languageCode ``art``,
as the DRIM-M XDM example) with HasMember and ``signs`` associations; :func:`verify` checks
one (used by the test DMP).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from lxml import etree

from engine.errors import ChannelError, DocumentError
from engine.formats.cda.safe_xml import parse_xml
from engine.formats.xds import constants as c
from engine.formats.xds.model import (
    Association,
    CodedValue,
    Submission,
    derived_uuid,
    oid_for,
    sha1_hex,
)

logging.getLogger("signxml").setLevel(logging.INFO)
"""signxml logs every canonicalized document at DEBUG: the VIHF (the patient's INS) and the
signed data. Never below INFO, whatever the engine's log level (no patient data in logs)."""
DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
MANIFEST_TYPE = "http://www.w3.org/2000/09/xmldsig#Manifest"
PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
PURPOSE = CodedValue("1.2.840.10065.1.12.1.14", "1.2.840.10065.1.12", "Source")
SIGNATURE_CLASS = CodedValue("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature")
SIGNATURE_TYPE = CodedValue("E1762", "ASTM", "Full Document")
SIGNATURE_FORMAT = CodedValue(DS, "URN", "Default Signature Style")
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
NORMAL = CodedValue("N", "2.16.840.1.113883.5.25", "Normal")
MASKS = "1.2.250.1.213.1.1.4.13"
"""TRE_A07: the masking codes of the documents apply to their signature too (DRIM example)."""

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _ds(parent: etree._Element | None, name: str, **attrs: str) -> etree._Element:
    tag = f"{{{DS}}}{name}"
    if parent is None:
        return etree.Element(tag, attrs, nsmap={"ds": DS})
    return etree.SubElement(parent, tag, attrs)


def _xades(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    node = etree.SubElement(parent, f"{{{XADES}}}{name}", nsmap={"xades": XADES})
    node.text = text
    return node


def _digest(parent: etree._Element, value: bytes) -> None:
    _ds(parent, "DigestMethod", Algorithm=SHA256)
    _ds(parent, "DigestValue").text = base64.b64encode(hashlib.sha256(value).digest()).decode()


def _c14n(node: etree._Element) -> bytes:
    return etree.tostring(node, method="c14n", exclusive=True, with_comments=False)


def manifest_uri(unique_id: str) -> str:
    """The Manifest reference of a document: ``urn:oid:`` for an OID uniqueId, else the
    uniqueId percent-encoded (``root^extension``)."""
    if all(part.isdigit() for part in unique_id.split(".")):
        return f"urn:oid:{unique_id}"
    return quote(unique_id, safe=".:")


def signature_document(
    submission: Submission, key: Key, certificate: x509.Certificate, *, now: datetime
) -> bytes:
    """The enveloping XAdES-BES signature of ``submission`` (UTF-8 XML bytes).

    Raises ChannelError when the key cannot sign.
    """
    ident = submission.submission_set.entry_uuid.removeprefix("urn:uuid:")
    sig_id, props_id, manifest_id = f"sig-{ident}", f"props-{ident}", f"manifest-{ident}"
    signature = _ds(None, "Signature", Id=sig_id)
    signed_info = _ds(signature, "SignedInfo")
    _ds(signed_info, "CanonicalizationMethod", Algorithm=EXC_C14N)
    method = RSA_SHA256 if isinstance(key, rsa.RSAPrivateKey) else ECDSA_SHA256
    _ds(signed_info, "SignatureMethod", Algorithm=method)
    refs = [
        _ds(signed_info, "Reference", URI=f"#{manifest_id}", Type=MANIFEST_TYPE),
        _ds(signed_info, "Reference", URI=f"#{props_id}", Type=PROPERTIES_TYPE),
    ]
    value = _ds(signature, "SignatureValue")
    der = certificate.public_bytes(serialization.Encoding.DER)
    x509_data = _ds(_ds(signature, "KeyInfo"), "X509Data")
    _ds(x509_data, "X509Certificate").text = base64.b64encode(der).decode()
    qualifying = _xades(_ds(signature, "Object"), "QualifyingProperties")
    qualifying.set("Target", f"#{sig_id}")
    props = _xades(qualifying, "SignedProperties")
    props.set("Id", props_id)
    signed_sig = _xades(props, "SignedSignatureProperties")
    _xades(signed_sig, "SigningTime", now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    cert = _xades(_xades(signed_sig, "SigningCertificate"), "Cert")
    _digest(_xades(cert, "CertDigest"), der)
    serial = _xades(cert, "IssuerSerial")
    _ds(serial, "X509IssuerName").text = certificate.issuer.rfc4514_string()
    _ds(serial, "X509SerialNumber").text = str(certificate.serial_number)
    _xades(_xades(signed_sig, "SignaturePolicyIdentifier"), "SignaturePolicyImplied")
    commitment = _xades(_xades(props, "SignedDataObjectProperties"), "CommitmentTypeIndication")
    _xades(_xades(commitment, "CommitmentTypeId"), "Identifier", f"urn:oid:{PURPOSE.code}")
    _xades(commitment, "AllSignedDataObjects")
    manifest = _ds(_ds(signature, "Object"), "Manifest", Id=manifest_id)
    for entry in submission.entries:
        reference = _ds(manifest, "Reference", URI=manifest_uri(entry.unique_id))
        _digest(reference, submission.documents[entry.entry_uuid])
    for ref, target in zip(refs, (manifest, props), strict=True):
        transforms = _ds(ref, "Transforms")
        _ds(transforms, "Transform", Algorithm=EXC_C14N)
        _digest(ref, _c14n(target))
    data = _c14n(signed_info)
    try:
        if isinstance(key, rsa.RSAPrivateKey):
            raw = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
            size = (key.curve.key_size + 7) // 8
            raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    except (ValueError, TypeError) as exc:
        raise ChannelError(f"cannot sign the submission set: {exc}") from exc
    value.text = base64.b64encode(raw).decode()
    return etree.tostring(signature, xml_declaration=True, encoding="UTF-8")


def attach_signature(
    submission: Submission, content: bytes, *, key: str, now: datetime
) -> Submission:
    """``submission`` with the signature DocumentEntry, its HasMember and ``signs``."""
    first = submission.entries[0]
    # the same for a redelivery of the same documents under the same key, new otherwise
    parts = ("signature", key, *(e.unique_id for e in submission.entries))
    unique_id, entry_uuid = oid_for(*parts), derived_uuid(*parts)
    moment = now.strftime("%Y%m%d%H%M%S")
    masks = dict.fromkeys(
        code for e in submission.entries for code in e.confidentiality if code.scheme == MASKS
    )
    entry = replace(
        first,
        entry_uuid=entry_uuid,
        unique_id=unique_id,
        class_code=SIGNATURE_CLASS,
        type_code=SIGNATURE_TYPE,
        format_code=SIGNATURE_FORMAT,
        confidentiality=(NORMAL, *masks),
        mime_type="text/xml",
        hash=sha1_hex(content),
        size=len(content),
        creation_time=moment,
        language="art",
        title="Source",
        authors=submission.submission_set.authors,
        legal_authenticator="",
        service_start_time=moment,
        service_stop_time=moment,
        event_codes=(PURPOSE,),
    )
    set_uuid = submission.submission_set.entry_uuid
    associations = (
        *submission.associations,
        Association(derived_uuid("hasmember", set_uuid, entry_uuid), c.HAS_MEMBER, set_uuid,
                    entry_uuid, "Original"),
        Association(derived_uuid("signs", entry_uuid, set_uuid), SIGNS, entry_uuid, set_uuid),
    )  # fmt: skip
    documents = {**submission.documents, entry_uuid: content}
    return replace(
        submission,
        entries=(*submission.entries, entry),
        associations=associations,
        documents=documents,
    )


def _fail(reason: str) -> DocumentError:
    return DocumentError(f"XAdES signature: {reason}", kind="invalid")


def verify(content: bytes, certificate_pem: str, documents: Mapping[str, bytes]) -> None:
    """Check a SubmissionSet signature against the seal certificate and the documents of
    the set (uniqueId → bytes): XML-DSig core validation of SignedInfo (signxml), the two
    references (Manifest, XAdES SignedProperties), the signing certificate digest, the
    purpose of signature, and every Manifest reference against exactly these documents.

    Raises:
        DocumentError: the first problem found (no values of the documents).
    """
    from signxml.verifier import XMLVerifier

    root = parse_xml(content)
    if root.tag != f"{{{DS}}}Signature":
        raise _fail("the document is not a ds:Signature")
    try:
        results = XMLVerifier().verify(
            root, x509_cert=certificate_pem, expect_references=2, id_attribute="Id"
        )
    except Exception as exc:  # signxml raises several types
        raise _fail(f"core validation failed: {exc}") from exc
    signed = {
        etree.QName(r.signed_xml).localname: r.signed_xml
        for r in (results if isinstance(results, list) else [])
        if r.signed_xml is not None
    }
    manifest, props = signed.get("Manifest"), signed.get("SignedProperties")
    if manifest is None or props is None or len(signed) != 2:
        names = sorted(signed)
        raise _fail(f"the signed references are {names}, not the Manifest and SignedProperties")
    cert = x509.load_pem_x509_certificate(certificate_pem.encode("ascii"))
    der = cert.public_bytes(serialization.Encoding.DER)
    expected_digest = base64.b64encode(hashlib.sha256(der).digest()).decode()
    found = props.findtext(f".//{{{XADES}}}CertDigest/{{{DS}}}DigestValue")
    if found != expected_digest:
        raise _fail("SigningCertificate is not the seal certificate")
    if not props.findtext(f".//{{{XADES}}}SigningTime"):
        raise _fail("no SigningTime")
    if props.findtext(f".//{{{XADES}}}CommitmentTypeId/{{{XADES}}}Identifier") != (
        f"urn:oid:{PURPOSE.code}"
    ):
        raise _fail("the purpose of signature is not 1.2.840.10065.1.12.1.14 (Source)")
    wanted = {manifest_uri(u): data for u, data in documents.items()}
    listed = {r.get("URI", ""): r for r in manifest.findall(f"{{{DS}}}Reference")}
    if set(listed) != set(wanted):
        raise _fail("the Manifest does not list exactly the documents of the submission set")
    for uri, reference in listed.items():
        digest = base64.b64encode(hashlib.sha256(wanted[uri]).digest()).decode()
        if reference.findtext(f"{{{DS}}}DigestValue") != digest:
            raise _fail(f"the digest of {uri} in the Manifest is not the document's")


__all__ = [
    "PURPOSE",
    "SIGNATURE_CLASS",
    "SIGNATURE_FORMAT",
    "SIGNATURE_TYPE",
    "SIGNS",
    "attach_signature",
    "manifest_uri",
    "signature_document",
    "verify",
]
