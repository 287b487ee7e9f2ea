"""The ``dmp_xds`` destination: ITI-41 Provide and Register Document Set-b to the DMP.

For each payload (one CDA, or the documents of an ORU/MDM prepared by
``dmp_submission_from_hl7``): read every CDA safely, gate (qualified INS, traits, no
opposition: :mod:`engine.formats.xds.gating`), check the header rules and optionally the
XSD, build the XDS metadata from the tables, add the RPLC association for a new version,
wrap it in SOAP 1.2 + WS-Addressing + a freshly signed VIHF, send it as MTOM over mutual
TLS, and turn the RegistryResponse into the delivery outcome (``channels.dmp.outcome``).

Idempotency: the SubmissionSet ids derive from the delivery's dedupe key and the
DocumentEntry ids from the document uniqueId, so a redelivery sends the same identifiers;
a registry that already has the document answers XDSDuplicateUniqueIdInRegistry, which is
recorded as delivered.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import httpx
from lxml import etree

from channels.dmp import mtom, soap
from channels.dmp.config import DmpDestinationConfig
from channels.dmp.outcome import interpret
from channels.dmp.registry import RegistryClient
from channels.dmp.status import check_status
from channels.dmp.updates import DocumentUpdates
from channels.dmp.vihf import SigningIdentity, signed_assertion
from engine import tls
from engine.components import DeliveryContext, Destination, Payload
from engine.errors import (
    ChannelError,
    ConfigError,
    DocumentError,
    MappingError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from engine.formats.cda import Action, CdaDocument, check_header, load_schema, read_cda, validate
from engine.formats.xds import constants as c
from engine.formats.xds.ebrim import provide_and_register
from engine.formats.xds.from_cda import (
    PreparedDocument,
    StructureMismatch,
    SubmissionSettings,
    build_submission,
)
from engine.formats.xds.gating import (
    FACT_SECRET,
    DmpRefusal,
    GatePolicy,
    check_cda,
    check_facts,
    refuse,
)
from engine.formats.xds.model import Author, Submission
from engine.formats.xds.payload import DmpRequest, RequestedDocument, decode
from engine.formats.xds.signature import attach_signature, signature_document
from engine.formats.xds.tables import CONTENT_TYPES, XdsTables, load_tables
from engine.registry import destination

log = logging.getLogger(__name__)
IDNPS_OID = "1.2.250.1.71.4.2.1"
"""Assigning authority of the national health-professional ids (XCN of the VIHF subject)."""


@destination("dmp_xds", config=DmpDestinationConfig)
class DmpDestination(Destination[DmpDestinationConfig]):
    """Publishes CDA documents to the DMP (IHE XDS.b ITI-41, VIHF, MTOM, mutual TLS)."""

    def __init__(self, name: str, config: DmpDestinationConfig) -> None:
        super().__init__(name, config)
        self._client: httpx.AsyncClient | None = None
        self._identity: SigningIdentity | None = None
        self._seal: SigningIdentity | None = None
        self._tables: XdsTables | None = None
        self._policy = GatePolicy(frozenset(config.accepted_ins_oids))

    async def open(self) -> None:
        """Load certificates, keys and tables; build the mTLS client. Raises ChannelError."""
        cfg = self.config
        try:
            self._tables = load_tables(cfg.tables_dir)
            if self._tables.get(CONTENT_TYPES, cfg.content_type_code) is None:
                raise ChannelError(
                    f"dmp destination '{self.name}': content_type_code "
                    f"{cfg.content_type_code!r} is not in xds_content_type_codes.yaml"
                )
            if cfg.cda_schema is not None:
                load_schema(cfg.cda_schema)
        except ConfigError as exc:
            raise ChannelError(f"dmp destination '{self.name}': {exc}") from exc
        if cfg.check_dmp_status and cfg.status_url is None:
            raise ChannelError(f"dmp destination '{self.name}': check_dmp_status needs status_url")
        self._identity = SigningIdentity.load(cfg.vihf)
        if (cfg.seal_cert_file is None) != (cfg.seal_key_file is None):
            raise ChannelError(f"dmp destination '{self.name}': seal_cert_file needs seal_key_file")
        self._seal = (
            SigningIdentity.from_files(cfg.seal_cert_file, cfg.seal_key_file)
            if cfg.seal_cert_file is not None and cfg.seal_key_file is not None
            else self._identity
        )
        context = tls.client_context(
            ca_file=cfg.tls.ca_file,
            cert_file=cfg.tls.cert_file,
            key_file=cfg.tls.key_file,
            min_version=cfg.tls.min_version,
            error=f"dmp destination '{self.name}': TLS",
        )
        timeout = httpx.Timeout(cfg.timeout, connect=cfg.connect_timeout)
        self._client = httpx.AsyncClient(verify=context, timeout=timeout)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(self, payload: Payload, context: DeliveryContext) -> str:
        try:
            request = decode(payload.body, payload.content_type, payload.metadata)
        except DocumentError as exc:
            raise PermanentDeliveryError(f"payload: {exc}") from exc
        if not request.destined:
            return "not sent: the message does not ask for the DMP (DESTDMP=N)"
        documents = self._read(request)
        secret = request.facts.get(FACT_SECRET) == "true"
        registry = self._registry(secret)
        if any(d.action is Action.DELETE or d.update for d, _ in documents):
            if registry is None:
                raise PermanentDeliveryError(
                    "a deletion or an update of a DMP document needs ITI-18/ITI-57: set "
                    f"registry_url on destination '{self.name}'"
                )
            updates = DocumentUpdates(registry, self._tables_or_fail(), self._settings(request))
            ids = {"destination": self.name, "delivery_id": context.delivery_id}
            log.info("Updating documents in the DMP registry.", extra=ids)
            return await updates.apply(documents, key=context.dedupe_key)
        await self._check_status(documents)
        parents = await self._parents(documents, registry)
        submission = self._build(documents, request, key=context.dedupe_key, parents=parents)
        extra: dict[str, object] = {
            "destination": self.name,
            "delivery_id": context.delivery_id,
            "documents": len(submission.entries),
            "replacements": len(submission.replacements),
        }
        log.info("Submitting documents to the DMP.", extra=extra)
        return await self._post(submission, secret=secret)

    def prepare(self, request: DmpRequest, *, key: str) -> Submission:
        """Read, gate, describe and sign the documents of a feeding, without any call (an
        RPLC points at the entryUUID Passerelle gives the parent). Raises
        PermanentDeliveryError."""
        return self._build(self._read(request), request, key=key, parents={})

    def _read(self, request: DmpRequest) -> list[tuple[RequestedDocument, CdaDocument]]:
        """Read and gate every document. Raises PermanentDeliveryError (all refusals)."""
        refusals = check_facts(request.facts)
        documents: list[tuple[RequestedDocument, CdaDocument]] = []
        for n, doc in enumerate(request.documents, start=1):
            try:
                cda = read_cda(doc.content, max_bytes=self.config.max_document_size)
            except DocumentError as exc:
                raise PermanentDeliveryError(f"document {n} is not usable: {exc}") from exc
            refusals += check_cda(cda.header, self._policy)
            replaces = cda.header.replaces.unique_id if cda.header.replaces else doc.replaces
            if doc.action is Action.REPLACE and not replaces:
                refusals.append(
                    DmpRefusal(
                        "900",
                        f"document {n} is a replacement without the id of the version it "
                        "replaces (no relatedDocument RPLC, no TXA-13)",
                    )
                )
            if doc.action is not Action.DELETE and not doc.update:
                self._check_document(cda, n)
            documents.append((replace(doc, replaces=replaces), cda))
        refuse(list(dict.fromkeys(refusals)))
        return documents

    async def _parents(
        self,
        documents: list[tuple[RequestedDocument, CdaDocument]],
        registry: RegistryClient | None,
    ) -> dict[str, str]:
        """The registry entryUUID of each replaced uniqueId (ITI-18), when a registry is
        configured. Raises PermanentDeliveryError (ANS 900) for a parent the DMP lacks."""
        if registry is None:
            return {}
        found: dict[str, str] = {}
        for n, (doc, cda) in enumerate(documents, start=1):
            ins = cda.header.patient.ins if cda.header.patient else None
            if not doc.replaces or ins is None:
                continue
            entry = await registry.find(doc.replaces, ins.cx)
            if entry is None or entry.status != c.APPROVED:
                refusal = DmpRefusal(
                    "900", f"document {n} replaces a version the DMP does not hold as approved"
                )
                raise PermanentDeliveryError(f"not sent to the DMP: {refusal}")
            found[doc.replaces] = entry.entry_uuid
        return found

    async def _check_status(self, documents: list[tuple[RequestedDocument, CdaDocument]]) -> None:
        """TD0.2 for the patient of the documents, when ``check_dmp_status`` is set."""
        if not self.config.check_dmp_status:
            return
        assert self._client is not None and self.config.status_url is not None
        patients = {cda.header.patient.ins for _, cda in documents if cda.header.patient}
        for ins in (i for i in patients if i is not None):
            await check_status(
                self._client, self.config.status_url, ins, max_bytes=self.config.max_response_size
            )

    def _settings(self, request: DmpRequest) -> SubmissionSettings:
        vihf = self.config.vihf
        return SubmissionSettings(
            source_id=self.config.source_id,
            content_type=request.content_type or self.config.content_type_code,
            author=Author(person=f"{vihf.subject_id}^^^^^^^^&{IDNPS_OID}&ISO^D^^^IDNPS"),
            default_facility_type=self.config.default_facility_type,
            default_practice_setting=self.config.default_practice_setting,
            structure_id=vihf.structure_id,
        )

    def _tables_or_fail(self) -> XdsTables:
        assert self._tables is not None, "open() first"
        return self._tables

    def _build(
        self,
        documents: list[tuple[RequestedDocument, CdaDocument]],
        request: DmpRequest,
        *,
        key: str,
        parents: dict[str, str],
    ) -> Submission:
        prepared = [
            PreparedDocument(
                cda,
                doc.replaces,
                doc.confidentiality,
                parents.get(doc.replaces) if doc.replaces else None,
            )
            for doc, cda in documents
        ]
        try:
            settings = self._settings(request)
            submission = build_submission(prepared, settings, self._tables_or_fail(), key=key)
        except StructureMismatch as exc:  # indirect authentication: before any call
            refusal = DmpRefusal("906", str(exc))
            raise PermanentDeliveryError(f"not sent to the DMP: {refusal}") from exc
        except MappingError as exc:
            raise PermanentDeliveryError(str(exc)) from exc
        return self._signed(submission, key=key)

    def _registry(self, secret: bool) -> RegistryClient | None:
        """An ITI-18/ITI-57 client when ``registry_url`` is set (VIHF per call)."""
        url = self.config.registry_url
        if url is None:
            return None
        assert self._client is not None and self._identity is not None, "open() first"
        identity, vihf = self._identity, self.config.vihf

        def assertion(patient_id: str) -> etree._Element:
            now = datetime.now(UTC)
            return signed_assertion(vihf, identity, resource_id=patient_id, now=now, secret=secret)

        return RegistryClient(self._client, url, assertion, max_bytes=self.config.max_response_size)

    def _signed(self, submission: Submission, *, key: str) -> Submission:
        """The submission with its XAdES signature entry and ``signs`` association (TD2)."""
        assert self._seal is not None, "open() first"
        now = datetime.now(UTC)
        seal = self._seal
        content = signature_document(submission, seal.key, seal.certificate, now=now)
        return attach_signature(submission, content, key=key, now=now)

    def _check_document(self, cda: CdaDocument, n: int) -> None:
        if self.config.header_rules != "off":
            findings = [
                f
                for f in check_header(cda.header, cda.level)
                if f.severity == "error" and not f.rule.startswith("FR-INS")
            ]
            if findings and self.config.header_rules == "enforce":
                listed = "; ".join(str(f) for f in findings)
                raise PermanentDeliveryError(f"document {n} breaks header rules: {listed}")
        if self.config.cda_schema is not None and cda.element is not None:
            problems = validate(cda.element, self.config.cda_schema)
            if problems:
                raise PermanentDeliveryError(
                    f"document {n} is not valid against the CDA schema: {problems[0]}"
                )

    def request_bytes(self, submission: Submission, *, secret: bool = False) -> tuple[bytes, str]:
        """The MTOM HTTP body and Content-Type of the ITI-41 request for ``submission``
        (``secret``: the VIHF of a secret connection)."""
        assert self._identity is not None, "open() first"
        body, attachments = provide_and_register(submission, xop=True)
        assertion = signed_assertion(
            self.config.vihf,
            self._identity,
            resource_id=submission.submission_set.patient_id,
            now=datetime.now(UTC),
            secret=secret,
        )
        envelope = soap.envelope(
            body,
            action=c.ITI41_ACTION,
            to=self.config.url,
            message_id=f"urn:uuid:{uuid.uuid4()}",
            security=assertion,
        )
        types = {
            cid: entry.mime_type
            for entry in submission.entries
            for cid in attachments
            if cid.startswith(entry.entry_uuid.removeprefix("urn:uuid:"))
        }
        raw = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        return mtom.encode(raw, attachments, action=c.ITI41_ACTION, types=types)

    async def _post(self, submission: Submission, *, secret: bool) -> str:
        assert self._client is not None, "open() first"
        body, content_type = self.request_bytes(submission, secret=secret)
        limit = self.config.max_response_size
        try:
            async with self._client.stream(
                "POST", self.config.url, content=body, headers={"Content-Type": content_type}
            ) as response:
                data = b""
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > limit:
                        raise RetryableDeliveryError(f"DMP answer larger than {limit} bytes")
        except httpx.HTTPError as exc:
            raise RetryableDeliveryError(
                f"DMP unreachable: {type(exc).__name__}: {exc}".rstrip(": ")
            ) from exc
        return interpret(
            response.status_code,
            data,
            response.headers.get("content-type", ""),
            retry_after=response.headers.get("retry-after"),
            max_bytes=limit,
        )


__all__ = ["DmpDestination"]
