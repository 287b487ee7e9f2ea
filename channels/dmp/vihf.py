"""The VIHF (Vecteur d'Identification et d'Habilitation Formelle): a SAML 2.0 assertion
signed with the organisation certificate, carried in the WS-Security header of each call.

Shape: the ANS volet example for an automated process (IGTDC ``mapping.md``) and the DMP
test request (DRIM ``publication.xml``): Issuer = DN of the signing certificate, enveloped
XML-DSig placed right after the Issuer (as the SAML schema requires), exclusive C14N,
SHA-256 digest, RSA-SHA256 or ECDSA-SHA256 after the key, ``KeyInfo/X509Data``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from channels.dmp.config import VihfConfig
from engine.errors import ChannelError

logging.getLogger("signxml").setLevel(logging.INFO)
"""signxml logs every canonicalized document at DEBUG: the VIHF (the patient's INS) and the
signed data. Never below INFO, whatever the engine's log level (no patient data in logs)."""
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
HL7 = "urn:hl7-org:v3"
X509_SUBJECT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
SECTEUR_ACTIVITE_SYSTEM = "1.2.250.1.71.4.2.4"
PURPOSE_SYSTEM = "1.2.250.1.213.1.1.4.248"
CONFIDENTIALITY_ATTRIBUTE = "urn:oasis:names:tc:xspa:1.0:resource:patient:hl7:confidentiality-code"
"""Present only for a secret connection (HL7 ``CONNEXION_SECRETE=Y``; volet ``mapping.md``)."""
SECRET_CONNECTION = ("INVISIBLE_PATIENT", "1.2.250.1.213.1.1.4.13", "Non visible par le patient")
"""The code sent in :data:`CONFIDENTIALITY_ATTRIBUTE` (TRE_A07): to confirm on the DMP test
platform (the public volet names the attribute, not its value)."""


@dataclass(frozen=True, slots=True)
class SigningIdentity:
    """The organisation key and certificate, loaded once."""

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    cert_pem: str

    @property
    def issuer_dn(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @classmethod
    def load(cls, config: VihfConfig) -> SigningIdentity:
        """Read the PEM files of the VIHF. Raises ChannelError (missing or unusable)."""
        return cls.from_files(config.signing_cert_file, config.signing_key_file)

    @classmethod
    def from_files(cls, cert_file: Path, key_file: Path) -> SigningIdentity:
        """Read a PEM certificate and its key. Raises ChannelError (missing or unusable)."""
        try:
            cert_pem = cert_file.read_bytes()
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            certificate = x509.load_pem_x509_certificate(cert_pem)
        except (OSError, ValueError, TypeError) as exc:
            raise ChannelError(f"cannot load the signing certificate or key: {exc}") from exc
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ChannelError("the signing key must be an RSA or EC private key")
        return cls(key, certificate, cert_pem.decode("ascii"))


def _instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _attribute(statement: etree._Element, name: str, value: str | etree._Element) -> None:
    if isinstance(value, str) and not value:
        return
    attribute = etree.SubElement(statement, f"{{{SAML}}}Attribute", Name=name)
    holder = etree.SubElement(attribute, f"{{{SAML}}}AttributeValue")
    if isinstance(value, str):
        holder.text = value
    else:
        holder.append(value)


def _coded(tag: str, code: str, system: str, display: str = "") -> etree._Element:
    nsmap: Any = {None: HL7, "xsi": XSI}  # HL7 as the default namespace, as in the DMP samples
    element = etree.Element(f"{{{HL7}}}{tag}", nsmap=nsmap)
    element.set("code", code)
    element.set("codeSystem", system)
    if display:
        element.set("displayName", display)
    element.set(f"{{{XSI}}}type", "CE")
    return element


def build_assertion(
    config: VihfConfig,
    identity: SigningIdentity,
    *,
    resource_id: str,
    now: datetime,
    secret: bool = False,
) -> etree._Element:
    """An unsigned assertion for patient ``resource_id`` (INS in CX form), with a
    signature placeholder after the Issuer; ``secret`` adds the confidentiality-code
    attribute of a secret connection."""
    assertion_id = f"_{uuid.uuid4()}"
    root = etree.Element(
        f"{{{SAML}}}Assertion",
        nsmap={"saml2": SAML, "xsi": XSI},
        ID=assertion_id,
        IssueInstant=_instant(now),
        Version="2.0",
    )
    issuer = etree.SubElement(root, f"{{{SAML}}}Issuer", Format=X509_SUBJECT)
    issuer.text = identity.issuer_dn
    etree.SubElement(root, f"{{{DS}}}Signature", nsmap={"ds": DS}, Id="placeholder")
    subject = etree.SubElement(root, f"{{{SAML}}}Subject")
    etree.SubElement(subject, f"{{{SAML}}}NameID").text = config.subject_id
    etree.SubElement(
        root,
        f"{{{SAML}}}Conditions",
        NotBefore=_instant(now - timedelta(minutes=1)),
        NotOnOrAfter=_instant(now + timedelta(seconds=config.validity)),
    )
    authn = etree.SubElement(root, f"{{{SAML}}}AuthnStatement", AuthnInstant=_instant(now))
    context = etree.SubElement(authn, f"{{{SAML}}}AuthnContext")
    etree.SubElement(context, f"{{{SAML}}}AuthnContextClassRef").text = config.authn_context
    statement = etree.SubElement(root, f"{{{SAML}}}AttributeStatement")
    for name, value in (
        ("VIHF_Version", config.version),
        ("Authentification_Mode", "INDIRECTE"),
        ("Identifiant_Structure", config.structure_id),
        ("Secteur_Activite", f"{config.healthcare_facility_type}^{SECTEUR_ACTIVITE_SYSTEM}"),
        ("urn:oasis:names:tc:xspa:1.0:subject:subject-id", config.subject_name),
        ("urn:oasis:names:tc:xacml:2.0:resource:resource-id", resource_id),
        ("Ressource_URN", "urn:dmp"),
        ("LPS_Nom", config.lps_name),
        ("LPS_Version", config.lps_version),
        ("LPS_ID", config.lps_id),
        ("LPS_ID_HOMOLOGATION_DMP", config.lps_homologation),
    ):
        _attribute(statement, name, value)
    role = config.role
    _attribute(
        statement,
        "urn:oasis:names:tc:xacml:2.0:subject:role",
        _coded("Role", role.code, role.system, role.display),
    )
    _attribute(
        statement,
        "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse",
        _coded("PurposeOfUse", config.purpose_of_use, PURPOSE_SYSTEM),
    )
    if secret:
        _attribute(
            statement, CONFIDENTIALITY_ATTRIBUTE, _coded("ConfidentialityCode", *SECRET_CONNECTION)
        )
    return root


def sign(assertion: etree._Element, identity: SigningIdentity) -> etree._Element:
    """The assertion signed (enveloped, reference ``#<ID>``). Raises ChannelError."""
    method = (
        SignatureMethod.RSA_SHA256
        if isinstance(identity.key, rsa.RSAPrivateKey)
        else SignatureMethod.ECDSA_SHA256
    )
    signer = XMLSigner(
        signature_algorithm=method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    try:
        signed: etree._Element = signer.sign(
            assertion,
            key=identity.key,
            cert=identity.cert_pem,
            reference_uri=f"#{assertion.get('ID')}",
            id_attribute="ID",
        )
    except Exception as exc:  # signxml raises several exception types
        raise ChannelError(f"cannot sign the VIHF assertion: {exc}") from exc
    return signed


def signed_assertion(
    config: VihfConfig,
    identity: SigningIdentity,
    *,
    resource_id: str,
    now: datetime,
    secret: bool = False,
) -> etree._Element:
    """Build and sign a VIHF assertion for one call (``secret``: a secret connection)."""
    assertion = build_assertion(config, identity, resource_id=resource_id, now=now, secret=secret)
    return sign(assertion, identity)


__all__ = [
    "CONFIDENTIALITY_ATTRIBUTE",
    "SAML",
    "SECRET_CONNECTION",
    "SigningIdentity",
    "build_assertion",
    "sign",
    "signed_assertion",
]
