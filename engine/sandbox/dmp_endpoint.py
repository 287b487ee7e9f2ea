"""A faithful test double of the DMP repository for ITI-41 (the one allowed double).

It listens on HTTPS with a required client certificate, reads the MTOM request, resolves
``xop:Include``, checks WS-Addressing, verifies the VIHF signature against the configured
organisation certificate, validates the SOAP body against the ebRS 3.0 / XDS.b XSDs, checks
each document's SHA-1 and size, the French codes (same tables as the engine), the patient
id consistency, uniqueId duplicates and RPLC targets, then answers a RegistryResponse (in
MTOM, as the DMP does) -- or the failure a test scripted with :meth:`DmpEndpoint.script`.
Every request is recorded in :attr:`DmpEndpoint.requests`.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree
from signxml.verifier import XMLVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from channels.dmp import mtom, soap
from channels.dmp.vihf import SAML
from channels.http.server import AppServer
from engine.corpus import CORPUS
from engine.errors import DocumentError
from engine.formats.cda.safe_xml import parse_xml
from engine.formats.cda.schema import validate
from engine.formats.xds import constants as c
from engine.formats.xds import tables as t
from engine.formats.xds.response import RegistryError, Status, registry_response
from engine.formats.xds.tables import XdsTables

XDS_XSD = CORPUS / "schemas" / "xds" / "entry-XDS.b.xsd"
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
)


@dataclass(frozen=True)
class Answer:
    """A scripted answer: a RegistryResponse, a SOAP fault, or a bare HTTP status."""

    status: Status | None = None
    errors: tuple[RegistryError, ...] = ()
    fault: tuple[str, str] | None = None
    http: int | None = None
    retry_after: str | None = None


@dataclass
class Received:
    """One request as the endpoint understood it."""

    entries: dict[str, dict[str, str]] = field(default_factory=dict)
    documents: dict[str, bytes] = field(default_factory=dict)
    associations: list[tuple[str, str, str]] = field(default_factory=list)
    vihf: dict[str, str] = field(default_factory=dict)
    submission_set: dict[str, str] = field(default_factory=dict)
    answer: str = ""


class _Refusal(Exception):
    def __init__(self, code: str, context: str, location: str = "") -> None:
        super().__init__(context)
        self.error = RegistryError(code, context, location)


class DmpEndpoint:
    """Run with ``await start()`` (returns the URL) and ``await stop()``."""

    def __init__(
        self,
        *,
        port: int = 0,
        server_cert: Path,
        server_key: Path,
        client_ca: Path,
        organisation_cert: Path,
        tables: XdsTables,
        xsd: Path = XDS_XSD,
    ) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(server_cert, server_key)
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
        self.organisation_cert = organisation_cert.read_text()
        self.tables, self.xsd = tables, xsd
        self.requests: list[Received] = []
        self.registered: dict[str, tuple[str, str]] = {}  # uniqueId -> (entryUUID, sha1)
        self.deprecated: set[str] = set()
        self.scripted: list[Answer] = []
        app = Starlette(routes=[Route("/repository", self._handle, methods=["POST"])])
        self._server = AppServer(app, "127.0.0.1", port, context)
        self.url = ""

    async def start(self) -> str:
        _, port = await self._server.start()
        self.url = f"https://localhost:{port}/repository"
        return self.url

    async def stop(self) -> None:
        await self._server.stop()

    def script(self, *answers: Answer) -> None:
        """Answer the next requests with ``answers`` (after checking and recording them)."""
        self.scripted.extend(answers)

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.requests if r.answer == "Success"]

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        received = Received()
        self.requests.append(received)
        try:
            envelope, message_id = self._read(body, request.headers.get("content-type", ""))
            self._check(envelope, received)
        except soap.SoapFault as fault_:
            received.answer = f"fault {fault_.code}"
            return self._fault(fault_.code, fault_.reason, fault_.subcode)
        except _Refusal as refusal:
            received.answer = "Failure"
            return self._registry("Failure", (refusal.error,), message_id)
        if self.scripted:
            answer = self.scripted.pop(0)
            received.answer = f"scripted {answer}"
            if answer.http is not None:
                headers = {"Retry-After": answer.retry_after} if answer.retry_after else {}
                return Response(b"busy", status_code=answer.http, headers=headers)
            if answer.fault is not None:
                return self._fault(*answer.fault)
            assert answer.status is not None
            if answer.status != "Failure":
                self._register(received)
            return self._registry(answer.status, answer.errors, message_id)
        self._register(received)
        received.answer = "Success"
        return self._registry("Success", (), message_id)

    def _read(self, body: bytes, content_type: str) -> tuple[etree._Element, str]:
        if not content_type.startswith("multipart/related") or "application/xop+xml" not in (
            content_type
        ):
            raise soap.SoapFault("Sender", "", "ITI-41 must be sent as MTOM/XOP")
        try:
            part = mtom.decode(body, content_type)
            envelope = parse_xml(part.root)
            mtom.resolve_includes(envelope, part.parts)
        except DocumentError as exc:
            raise soap.SoapFault("Sender", "", f"unreadable request: {exc}") from exc
        header = envelope.find(f"{{{soap.SOAP12}}}Header")
        if envelope.tag != f"{{{soap.SOAP12}}}Envelope" or header is None:
            raise soap.SoapFault("VersionMismatch", "", "not a SOAP 1.2 envelope with a header")
        if header.findtext(f"{{{soap.WSA}}}Action") != c.ITI41_ACTION:
            raise soap.SoapFault("Sender", "wsa:ActionNotSupported", "wrong wsa:Action")
        if header.findtext(f"{{{soap.WSA}}}To") != self.url:
            raise soap.SoapFault("Sender", "wsa:InvalidAddressingHeader", "wrong wsa:To")
        message_id = header.findtext(f"{{{soap.WSA}}}MessageID") or ""
        if not message_id.startswith("urn:uuid:"):
            raise soap.SoapFault("Sender", "wsa:InvalidAddressingHeader", "no wsa:MessageID")
        return envelope, message_id

    def _check(self, envelope: etree._Element, received: Received) -> None:
        assertion = envelope.find(f".//{{{soap.WSSE}}}Security/{{{SAML}}}Assertion")
        if assertion is None:
            raise soap.SoapFault("Sender", "wsse:InvalidSecurity", "no VIHF assertion")
        self._verify_vihf(assertion, received)
        path = f"{{{soap.SOAP12}}}Body/{{{c.XDSB}}}ProvideAndRegisterDocumentSetRequest"
        body = envelope.find(path)
        if body is None:
            raise soap.SoapFault("Sender", "", "no ProvideAndRegisterDocumentSetRequest")
        problems = validate(etree.fromstring(etree.tostring(body)), self.xsd)
        if problems:
            raise _Refusal("XDSRepositoryMetadataError", f"XSD: {problems[0]}")
        documents = {d.get("id", ""): d for d in body.iter(f"{{{c.XDSB}}}Document")}
        for entry in body.iter(f"{R}ExtrinsicObject"):
            self._check_entry(entry, documents, received)
        package = body.find(f".//{R}RegistryPackage")
        if package is None:
            raise _Refusal("XDSRegistryMetadataError", "no SubmissionSet")
        received.submission_set = self._external(package)
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
        known = {uuid for uuid, _ in self.registered.values()}
        for kind, _, target in received.associations:
            if kind == c.RPLC and (target not in known or target in self.deprecated):
                raise _Refusal(
                    "UnresolvedReferenceException", "RPLC target is not an approved entry", target
                )
        members = {target for kind, _, target in received.associations if kind == c.HAS_MEMBER}
        if members != set(received.entries):
            raise _Refusal("XDSRegistryMetadataError", "every entry needs one HasMember")

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

    def _register(self, received: Received) -> None:
        for kind, _, target in received.associations:
            if kind == c.RPLC:
                self.deprecated.add(target)
        for entry_id, values in received.entries.items():
            self.registered[values["uniqueId"]] = (entry_id, values["hash"])

    def _registry(
        self, status: Status, errors: tuple[RegistryError, ...], message_id: str
    ) -> Response:
        envelope = soap.envelope(
            registry_response(status, errors),
            action=c.ITI41_RESPONSE_ACTION,
            to="",
            message_id=f"urn:uuid:{uuid.uuid4()}",
            relates_to=message_id,
        )
        raw = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        body, content_type = mtom.encode(raw, {}, action=c.ITI41_RESPONSE_ACTION)
        return Response(body, media_type=None, headers={"Content-Type": content_type})

    @staticmethod
    def _fault(code: str, reason: str, subcode: str = "") -> Response:
        envelope = soap.fault(code, reason, subcode)
        raw = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        headers = {"Content-Type": "application/soap+xml; charset=UTF-8"}
        return Response(raw, status_code=500, headers=headers)


__all__ = ["Answer", "DmpEndpoint", "Received"]
