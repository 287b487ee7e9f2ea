"""The ITI-41 checks of the test DMP (:mod:`engine.sandbox.dmp_endpoint`): VIHF, XSD,
documents (hash, size, slots, codes), patient ids, associations, RPLC targets, the
Identifiant_Structure / authorInstitution rule and the XAdES signature of the set. A
refusal is a :class:`_Refusal` (one RegistryError), a protocol problem a SOAP fault; the
texts name ids and rules, never patient data."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree
from signxml.verifier import XMLVerifier

from channels.dmp import soap
from channels.dmp.vihf import SAML
from engine.errors import DocumentError
from engine.formats.xds import constants as c
from engine.formats.xds import tables as t
from engine.formats.xds.response import RegistryError
from engine.formats.xds.signature import (
    SIGNATURE_CLASS,
    SIGNATURE_FORMAT,
    SIGNATURE_TYPE,
    SIGNS,
    verify,
)
from engine.formats.xds.tables import XdsTables
from engine.sandbox.dmp_registry import DmpRegistry

R = f"{{{c.RIM}}}"
_CODES = {
    c.DE_CLASS: t.CLASS_CODES,
    c.DE_TYPE: t.TYPE_CODES,
    c.DE_FORMAT: t.FORMAT_CODES,
    c.DE_FACILITY: t.FACILITY_TYPES,
    c.DE_PRACTICE: t.PRACTICE_SETTINGS,
    c.DE_CONFIDENTIALITY: t.CONFIDENTIALITY,
    c.SS_CONTENT_TYPE: t.CONTENT_TYPES,
}
REQUIRED_VIHF = (
    "VIHF_Version",
    "Authentification_Mode",
    "Identifiant_Structure",
    "Secteur_Activite",
    "urn:oasis:names:tc:xspa:1.0:subject:subject-id",
    "urn:oasis:names:tc:xacml:2.0:subject:role",
    "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse",
    "urn:oasis:names:tc:xacml:2.0:resource:resource-id",
    "Ressource_URN",
    "LPS_ID_HOMOLOGATION_DMP",
)


@dataclass
class Received:
    """One request as the endpoint understood it."""

    entries: dict[str, dict[str, str]] = field(default_factory=dict)
    documents: dict[str, bytes] = field(default_factory=dict)
    associations: list[tuple[str, str, str]] = field(default_factory=list)
    vihf: dict[str, str] = field(default_factory=dict)
    submission_set: dict[str, str] = field(default_factory=dict)
    submission_set_author_institutions: list[str] = field(default_factory=list)
    signature_verified: bool = False
    answer: str = ""
    refusal: str = ""

    @property
    def cda_entries(self) -> dict[str, dict[str, str]]:
        """The entries of the documents, without the signature of the set."""
        return {k: v for k, v in self.entries.items() if v.get(c.DE_CLASS) != SIGNATURE_CLASS.code}

    @property
    def cda_documents(self) -> dict[str, bytes]:
        """The document contents by entryUUID, without the signature of the set."""
        return {k: v for k, v in self.documents.items() if k in self.cda_entries}


def _texts(node: etree._Element, path: str) -> list[str]:
    """The text results of an XPath over ebRIM (prefix ``r``)."""
    found = node.xpath(path, namespaces={"r": c.RIM})
    return [str(v) for v in found] if isinstance(found, list) else []


class _Refusal(Exception):
    def __init__(self, code: str, context: str, location: str = "") -> None:
        super().__init__(context)
        self.error = RegistryError(code, context, location)


class SubmissionChecks:
    """The checks, mixed into the endpoint (which holds this state)."""

    tables: XdsTables
    organisation_cert: str
    registered: dict[str, tuple[str, str]]
    registry: DmpRegistry
    xsd: Path | None
    _entries: list[etree._Element]

    def _validate(self, element: etree._Element) -> list[str]:
        raise NotImplementedError

    def _check(self, envelope: etree._Element, received: Received) -> None:
        assertion = envelope.find(f".//{{{soap.WSSE}}}Security/{{{SAML}}}Assertion")
        if assertion is None:
            raise soap.SoapFault("Sender", "wsse:InvalidSecurity", "no VIHF assertion")
        self._verify_vihf(assertion, received)
        path = f"{{{soap.SOAP12}}}Body/{{{c.XDSB}}}ProvideAndRegisterDocumentSetRequest"
        body = envelope.find(path)
        if body is None:
            raise soap.SoapFault("Sender", "", "no ProvideAndRegisterDocumentSetRequest")
        problems = self._validate(body)
        if problems:
            raise _Refusal("XDSRepositoryMetadataError", f"XSD: {problems[0]}")
        documents = {d.get("id", ""): d for d in body.iter(f"{{{c.XDSB}}}Document")}
        self._entries = list(body.iter(f"{R}ExtrinsicObject"))
        for entry in self._entries:
            self._check_entry(entry, documents, received)
        package = body.find(f".//{R}RegistryPackage")
        if package is None:
            raise _Refusal("XDSRegistryMetadataError", "no SubmissionSet")
        received.submission_set = self._external(package)
        received.submission_set_author_institutions = _texts(
            package,
            f"r:Classification[@classificationScheme='{c.SS_AUTHOR}']"
            "/r:Slot[@name='authorInstitution']/r:ValueList/r:Value/text()",
        )
        self._check_codes(package)
        patient = received.submission_set.get(c.SS_PATIENT_ID, "")
        if patient != received.vihf.get("urn:oasis:names:tc:xacml:2.0:resource:resource-id"):
            raise _Refusal("XDSPatientIdDoesNotMatch", "VIHF resource-id ≠ set patientId")
        for entry_id, values in received.entries.items():
            if values["patientId"] != patient:
                raise _Refusal("XDSPatientIdDoesNotMatch", "entry patientId ≠ set", entry_id)
        for a in body.iter(f"{R}Association"):
            received.associations.append(
                (a.get("associationType", ""), a.get("sourceObject", ""), a.get("targetObject", ""))
            )
        for kind, _, target in received.associations:
            stored = self.registry.entries.get(target)
            if kind == c.RPLC and (stored is None or stored.status != c.APPROVED):
                raise _Refusal(
                    "UnresolvedReferenceException", "RPLC target is not an approved entry", target
                )
        self._check_structure(package, received)
        members = {target for kind, _, target in received.associations if kind == c.HAS_MEMBER}
        if members != set(received.entries):
            raise _Refusal("XDSRegistryMetadataError", "every entry needs one HasMember")
        self._check_signature(package.get("id", ""), received)

    def _check_signature(self, set_id: str, received: Received) -> None:
        """TD2: one XAdES signature entry, ``signs`` the set, verified with the seal
        certificate over exactly the other documents of the set."""
        signatures = [
            entry_id
            for entry_id, values in received.entries.items()
            if values.get(c.DE_CLASS) == SIGNATURE_CLASS.code
            or values.get(c.DE_FORMAT) == SIGNATURE_FORMAT.code
        ]
        if len(signatures) != 1:
            raise _Refusal("XDSRegistryMetadataError", "the submission set is not signed once")
        (signature,) = signatures
        values = received.entries[signature]
        expected = (SIGNATURE_CLASS.code, SIGNATURE_TYPE.code, SIGNATURE_FORMAT.code, "art")
        found = (values[c.DE_CLASS], values[c.DE_TYPE], values[c.DE_FORMAT], values["language"])
        if found != expected:
            raise _Refusal("XDSRegistryMetadataError", "not a signature entry", signature)
        if (SIGNS, signature, set_id) not in received.associations:
            raise _Refusal("XDSRegistryMetadataError", "no signs association", signature)
        signed = {
            v["uniqueId"]: received.documents[entry_id]
            for entry_id, v in received.entries.items()
            if entry_id != signature
        }
        try:
            verify(received.documents[signature], self.organisation_cert, signed)
        except DocumentError as exc:
            raise _Refusal("XDSRegistryMetadataError", str(exc), signature) from exc
        received.signature_verified = True

    def _check_structure(self, package: etree._Element, received: Received) -> None:
        """Indirect authentication: the VIHF structure is an authorInstitution of every
        document and of the SubmissionSet."""
        structure = received.vihf.get("Identifiant_Structure", "")
        nodes = [(package, c.SS_AUTHOR), *((e, c.DE_AUTHOR) for e in self._entries)]
        for node, scheme in nodes:
            institutions = _texts(
                node,
                f"r:Classification[@classificationScheme='{scheme}']"
                "/r:Slot[@name='authorInstitution']/r:ValueList/r:Value/text()",
            )
            ids = {xon.split("^")[9] for xon in institutions if xon.count("^") >= 9}
            if structure not in ids:
                raise _Refusal(
                    "XDSRegistryMetadataError",
                    "Identifiant_Structure of the VIHF is not an authorInstitution",
                    node.get("id", ""),
                )

    def _verify_vihf(self, assertion: etree._Element, received: Received) -> None:
        standalone = etree.fromstring(etree.tostring(assertion))
        try:
            result = XMLVerifier().verify(
                standalone, x509_cert=self.organisation_cert, id_attribute="ID"
            )
        except Exception as exc:
            reason = f"VIHF signature: {exc}"
            raise soap.SoapFault("Sender", "wsse:FailedAuthentication", reason) from exc
        signed = result.signed_xml if not isinstance(result, list) else None
        if signed is None or signed.tag != f"{{{SAML}}}Assertion":
            reason = "the signature does not cover the assertion"
            raise soap.SoapFault("Sender", "wsse:FailedAuthentication", reason)
        for attribute in signed.iter(f"{{{SAML}}}Attribute"):
            value = attribute.find(f"{{{SAML}}}AttributeValue")
            if value is not None:
                received.vihf[attribute.get("Name", "")] = (value.text or "").strip() or (
                    value[0].get("code", "") if len(value) else ""
                )
        missing = [name for name in REQUIRED_VIHF if not received.vihf.get(name)]
        if missing:
            raise soap.SoapFault("Sender", "wsse:InvalidSecurity", f"VIHF lacks {missing}")
        conditions = signed.find(f"{{{SAML}}}Conditions")
        until = conditions.get("NotOnOrAfter", "") if conditions is not None else ""
        if until and until < datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"):
            raise soap.SoapFault("Sender", "wsse:InvalidSecurity", "VIHF expired")

    def _check_entry(
        self, entry: etree._Element, documents: dict[str, etree._Element], received: Received
    ) -> None:
        entry_id = entry.get("id", "")
        slots = {
            s.get("name", ""): s.findtext(f"{R}ValueList/{R}Value") or ""
            for s in entry.findall(f"{R}Slot")
        }
        document = documents.get(entry_id)
        if document is None:
            raise _Refusal("XDSMissingDocument", "no xdsb:Document for the entry", entry_id)
        content = base64.b64decode(document.text or "")
        if slots.get("hash") != hashlib.sha1(content).hexdigest():
            raise _Refusal("XDSRepositoryMetadataError", "hash ≠ the document's", entry_id)
        if slots.get("size") != str(len(content)):
            raise _Refusal("XDSRepositoryMetadataError", "size ≠ the document's", entry_id)
        for name in ("creationTime", "languageCode", "sourcePatientId"):
            if not slots.get(name):
                raise _Refusal("XDSRegistryMetadataError", f"missing slot {name}", entry_id)
        self._check_codes(entry)
        ids = self._external(entry)
        unique_id = ids.get(c.DE_UNIQUE_ID, "")
        known = self.registered.get(unique_id)
        if known is not None:
            same = known[1] == slots["hash"]
            code = "XDSDuplicateUniqueIdInRegistry" if same else "XDSNonIdenticalHash"
            raise _Refusal(code, "uniqueId already registered", unique_id)
        received.documents[entry_id] = content
        received.entries[entry_id] = {
            "uniqueId": unique_id,
            "patientId": ids.get(c.DE_PATIENT_ID, ""),
            "hash": slots["hash"],
            "mimeType": entry.get("mimeType", ""),
            "language": slots.get("languageCode", ""),
            **{scheme: code for scheme, code in self._codes(entry)},
        }

    @staticmethod
    def _codes(node: etree._Element) -> list[tuple[str, str]]:
        return [
            (cl.get("classificationScheme", ""), cl.get("nodeRepresentation", ""))
            for cl in node.findall(f"{R}Classification")
            if cl.get("classificationScheme") in _CODES
        ]

    def _check_codes(self, node: etree._Element) -> None:
        for cl in node.findall(f"{R}Classification"):
            table = _CODES.get(cl.get("classificationScheme", ""))
            if table is None:
                continue
            code = cl.get("nodeRepresentation", "")
            scheme = cl.findtext(f"{R}Slot[@name='codingScheme']/{R}ValueList/{R}Value") or ""
            if (table, code, scheme) == (t.FORMAT_CODES, SIGNATURE_FORMAT.code, "URN"):
                continue  # the DMP's signature format (DRIM-M example), see _check_signature
            entry = self.tables.get(table, code)
            if entry is None or entry.scheme != scheme:
                where = node.get("id", "")
                raise _Refusal(
                    "XDSRegistryMetadataError", f"{code} ({scheme}) not in {table}", where
                )

    @staticmethod
    def _external(node: etree._Element) -> dict[str, str]:
        found = node.findall(f"{R}ExternalIdentifier")
        return {e.get("identificationScheme", ""): e.get("value", "") for e in found}


__all__ = ["REQUIRED_VIHF", "Received", "SubmissionChecks"]
