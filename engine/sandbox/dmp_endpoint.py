"""A faithful test double of the DMP (the one allowed double): repository (ITI-41),
registry (ITI-18 GetDocuments, ITI-57 updates: :mod:`engine.sandbox.dmp_registry`) and the
TD0.2 status service.

It listens on HTTPS with a required client certificate, reads the MTOM request, resolves
``xop:Include``, checks WS-Addressing, verifies the VIHF signature against the configured
organisation certificate (and ``LPS_ID_HOMOLOGATION_DMP``, the Identifiant_Structure /
authorInstitution rule), validates the SOAP body against the ebRS 3.0 / XDS.b XSDs (skipped,
with one warning at start, when the shared corpus is absent), checks each document's SHA-1
and size, the French codes (same tables as the engine), the patient id consistency,
uniqueId duplicates, RPLC targets and the XAdES signature of the set with its ``signs``
association, then answers a RegistryResponse (in MTOM, as the DMP does) -- or the failure
a test scripted with :meth:`DmpEndpoint.script`. Every request is recorded in
:attr:`DmpEndpoint.requests` (registry calls in ``registry_requests``).

Constructor, :meth:`DmpEndpoint.start` (returns the repository URL; ``registry_url`` and
``status_url`` are set too) and :meth:`DmpEndpoint.stop` are the stable API
``passerelle sandbox`` uses.
"""

from __future__ import annotations

import logging
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.dmp import mtom, soap
from channels.dmp.vihf import SAML
from channels.http.server import AppServer
from engine.corpus import CORPUS
from engine.errors import DocumentError
from engine.formats.cda.safe_xml import parse_xml
from engine.formats.cda.schema import validate
from engine.formats.xds import constants as c
from engine.formats.xds import registry as r
from engine.formats.xds.response import RegistryError, Status, registry_response
from engine.formats.xds.tables import XdsTables, load_tables
from engine.sandbox.dmp_checks import REQUIRED_VIHF, Received, SubmissionChecks, _Refusal
from engine.sandbox.dmp_registry import DmpRegistry, RegistryRefusal

XDS_XSD = CORPUS / "schemas" / "xds" / "entry-XDS.b.xsd"
log = logging.getLogger(__name__)
R = f"{{{c.RIM}}}"


@dataclass(frozen=True)
class Answer:
    """A scripted answer: a RegistryResponse, a SOAP fault, or a bare HTTP status."""

    status: Status | None = None
    errors: tuple[RegistryError, ...] = ()
    fault: tuple[str, str] | None = None
    http: int | None = None
    retry_after: str | None = None


class DmpEndpoint(SubmissionChecks):
    """Run with ``await start()`` (returns the URL) and ``await stop()``."""

    def __init__(
        self,
        *,
        port: int = 0,
        server_cert: Path,
        server_key: Path,
        client_ca: Path,
        organisation_cert: Path,
        tables: XdsTables | None = None,
        xsd: Path = XDS_XSD,
    ) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(server_cert, server_key)
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
        self.organisation_cert = organisation_cert.read_text()
        self.tables = tables if tables is not None else load_tables()
        self.xsd: Path | None = xsd if xsd.is_file() else None
        self._missing_xsd = xsd
        self.requests: list[Received] = []
        self.registered: dict[str, tuple[str, str]] = {}  # uniqueId -> (entryUUID, sha1)
        self.deprecated: set[str] = set()
        self.scripted: list[Answer] = []
        self._entries: list[etree._Element] = []
        self.registry = DmpRegistry(self._check_codes)
        self.registry_requests: list[Received] = []
        app = Starlette(
            routes=[
                Route("/repository", self._handle, methods=["POST"]),
                Route("/registry", self._handle_registry, methods=["POST"]),
                Route("/fhir/Patient/_search", self._handle_status, methods=["POST"]),
            ]
        )
        self._server = AppServer(app, "127.0.0.1", port, context)
        self.url = ""
        self.registry_url = ""
        self.status_url = ""
        self.dmp_status: dict[str, str] = {}  # INS value -> ACTIF | FERME | INEXISTANT
        self.status_requests: list[str] = []

    def _validate(self, element: etree._Element) -> list[str]:
        """XSD problems of a request body (none when the schemas are absent)."""
        if self.xsd is None:
            return []
        return validate(etree.fromstring(etree.tostring(element)), self.xsd)

    async def start(self) -> str:
        """Listen on 127.0.0.1 (a free port); return the repository URL."""
        if self.xsd is None:
            log.warning(
                "XDS schemas not found at %s: the test DMP does not validate requests "
                "against the XSD (set PASSERELLE_CORPUS to the shared corpus).",
                self._missing_xsd,
            )
        _, port = await self._server.start()
        self.url = f"https://localhost:{port}/repository"
        self.registry_url = f"https://localhost:{port}/registry"
        self.status_url = f"https://localhost:{port}/fhir"
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
            received.refusal = f"{refusal.error.code}: {refusal.error.context}"
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

    def _read(
        self,
        body: bytes,
        content_type: str,
        *,
        actions: tuple[str, ...] = (c.ITI41_ACTION,),
        to: str | None = None,
    ) -> tuple[etree._Element, str]:
        mtom_required = actions == (c.ITI41_ACTION,)
        if mtom_required and (
            not content_type.startswith("multipart/related")
            or "application/xop+xml" not in content_type
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
        if header.findtext(f"{{{soap.WSA}}}Action") not in actions:
            raise soap.SoapFault("Sender", "wsa:ActionNotSupported", "wrong wsa:Action")
        if header.findtext(f"{{{soap.WSA}}}To") != (self.url if to is None else to):
            raise soap.SoapFault("Sender", "wsa:InvalidAddressingHeader", "wrong wsa:To")
        message_id = header.findtext(f"{{{soap.WSA}}}MessageID") or ""
        if not message_id.startswith("urn:uuid:"):
            raise soap.SoapFault("Sender", "wsa:InvalidAddressingHeader", "no wsa:MessageID")
        return envelope, message_id

    def _register(self, received: Received) -> None:
        for kind, _, target in received.associations:
            if kind == c.RPLC:
                self.deprecated.add(target)
                self.registry.deprecate(target)
        for entry_id, values in received.entries.items():
            self.registered[values["uniqueId"]] = (entry_id, values["hash"])
        for element in self._entries:
            self.registry.add(element)

    def preload(self, entry: etree._Element) -> None:
        """Register an ExtrinsicObject as if another system had published it (its
        entryUUID is whatever the element says, unknown to the engine under test)."""
        self.registry.add(entry)
        stored = self.registry.entries[entry.get("id", "")]
        hash_ = entry.findtext(f"{R}Slot[@name='hash']/{R}ValueList/{R}Value") or ""
        self.registered[stored.entry.unique_id] = (entry.get("id", ""), hash_)

    async def _handle_status(self, request: Request) -> Response:
        """TD0.2 as the PDSM4DMP draft describes it: Patient search by INS (``POST
        _search``, form ``identifier``); a patient without DMP gives an empty Bundle, a
        closed DMP ``active: false``."""
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        system, _, value = (form.get("identifier") or [""])[0].partition("|")
        if not system.startswith("urn:oid:1.2.250.1.213.1.4.") or not value:
            return JSONResponse({"resourceType": "OperationOutcome"}, status_code=400)
        status = self.dmp_status.get(value, "ACTIF")
        self.status_requests.append(status)
        entries = []
        if status != "INEXISTANT":
            patient = {"resourceType": "Patient", "active": status == "ACTIF"}
            patient["identifier"] = [{"system": system, "value": value}]
            entries.append({"resource": patient})
        bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(entries)}
        return JSONResponse({**bundle, "entry": entries}, media_type="application/fhir+json")

    async def _handle_registry(self, request: Request) -> Response:
        """ITI-18 (GetDocuments) and ITI-57 (Update Document Set), plain SOAP 1.2."""
        body = await request.body()
        call = Received()
        self.registry_requests.append(call)
        action, message_id = "", ""
        try:
            envelope, message_id = self._read(
                body,
                request.headers.get("content-type", ""),
                actions=(r.ITI18_ACTION, r.ITI57_ACTION),
                to=self.registry_url,
            )
            action = envelope.findtext(f".//{{{soap.WSA}}}Action") or ""
            assertion = envelope.find(f".//{{{soap.WSSE}}}Security/{{{SAML}}}Assertion")
            if assertion is None:
                raise soap.SoapFault("Sender", "wsse:InvalidSecurity", "no VIHF assertion")
            self._verify_vihf(assertion, call)
            child = envelope.find(f"{{{soap.SOAP12}}}Body/*")
            if child is None:
                raise soap.SoapFault("Sender", "", "empty SOAP body")
            problems = self._validate(child)
            if problems:
                raise RegistryRefusal("XDSRegistryMetadataError", f"XSD: {problems[0]}")
            patient = call.vihf.get("urn:oasis:names:tc:xacml:2.0:resource:resource-id", "")
            if action == r.ITI18_ACTION:
                answer = r.query_response(self.registry.query(child, patient))
            else:
                structure = call.vihf.get("Identifiant_Structure", "")
                self.registry.update(child, structure, patient)
                answer = registry_response("Success")
            call.answer = f"{action} Success"
        except soap.SoapFault as fault_:
            call.answer = f"fault {fault_.code}"
            return self._fault(fault_.code, fault_.reason, fault_.subcode)
        except RegistryRefusal as refusal:
            call.answer, call.refusal = "Failure", f"{refusal.error.code}: {refusal.error.context}"
            errors = (refusal.error,)
            if action == r.ITI18_ACTION:
                answer = r.query_response([], errors)
            else:
                answer = registry_response("Failure", errors)
        reply = r.ITI18_RESPONSE_ACTION if action == r.ITI18_ACTION else r.ITI57_RESPONSE_ACTION
        envelope = soap.envelope(
            answer,
            action=reply,
            to="",
            message_id=f"urn:uuid:{uuid.uuid4()}",
            relates_to=message_id,
        )
        raw = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        headers = {"Content-Type": f'application/soap+xml; charset=UTF-8; action="{reply}"'}
        return Response(raw, headers=headers)

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


__all__ = ["REQUIRED_VIHF", "Answer", "DmpEndpoint", "Received"]
