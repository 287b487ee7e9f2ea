"""Composing the MSSanté mail that carries one CDA document.

The mail is ``multipart/mixed``: a short text part, ``IHE_XDM.ZIP`` (INDEX.HTM, README.TXT,
``IHE_XDM/SUBSET01/METADATA.XML`` and the document) and, when the CDA has one, its PDF
rendition (the body of a level-1 CDA, or the PDF copy embedded in a level-3 CDA).
``METADATA.XML`` is described by the DMP metadata map (classCode, formatCode... from the
official tables; contentTypeCode per :func:`xds_entry`; sourceId per :func:`source_id_of`).
Recipients follow :mod:`channels.mssante.recipients`. Headers:
``X-MSS-CODECDA`` (CDA code), ``X-MSS-INS`` (``O`` when the document carries a qualified
INS: a well-formed INS with a valid key under an INS OID and the four identity traits, and,
when it came in HL7, PID-32 ``VALI``: fact ``ins.qualified``),
``X-MSS-NIL``, ``X-MSS-MES: FIN`` when configured, ``Disposition-Notification-To`` when a
read receipt is wanted, and a Message-ID stable across retries of the delivery.

Refusals are :class:`~engine.errors.PermanentDeliveryError` with a patient-free reason.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from channels.mssante.config import MssanteDestinationConfig
from channels.mssante.receipts import outgoing_message_id
from channels.mssante.recipients import check_recipients, patient_ins
from channels.mssante.transforms import FACT_TO_PATIENT
from engine.components import DeliveryContext, Payload
from engine.errors import DocumentError, MappingError, PermanentDeliveryError
from engine.formats.cda import CdaDocument, Level, embedded_body, read_cda
from engine.formats.cda.model import NS
from engine.formats.xdm import OutgoingDocument, XdmError, build_xdm, metadata_for_entries
from engine.formats.xds import tables as t
from engine.formats.xds.from_cda import PreparedDocument, SubmissionSettings, document_entry
from engine.formats.xds.gating import FACT_QUALIFIED
from engine.formats.xds.model import CodedValue, DocumentEntry, oid_for
from engine.formats.xds.tables import XdsTables, load_tables
from engine.message import utcnow

PRODUCT = "Passerelle"
MAIL_POLICY = policy.SMTP.clone(max_line_length=998)
"""CRLF, and long lines allowed: the default 78 makes Python fold a long ASCII subject
right after ``Subject:``, which readers then see with a leading space."""
CDA_TYPES = frozenset(
    {"application/cda+xml", "text/xml", "application/xml", "application/xslt+xml"}
)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
PLACEHOLDERS = ("title", "family", "given", "birth_date")


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """A composed mail: the message, its Message-ID, and the checked recipients."""

    message: EmailMessage
    message_id: str
    recipients: tuple[str, ...]


def recipients_of(
    payload: Payload,
    config: MssanteDestinationConfig,
    *,
    doc: CdaDocument | None = None,
    allowlist: frozenset[str] | None = None,
) -> tuple[str, ...]:
    """Configured plus metadata recipients (plus the patient's mailbox with ``to_patient``),
    checked against the trusted domains and the patient-mailbox rule (see
    :mod:`channels.mssante.recipients`)."""
    listed = list(config.to)
    if config.recipients_metadata:
        extra = payload.metadata.get(config.recipients_metadata, "")
        listed += [a.strip() for a in re.split(r"[,;]", extra) if a.strip()]
    ins = patient_ins(doc, hl7_qualified(payload)) if doc is not None else None
    return check_recipients(
        listed,
        allowlist=allowlist,
        suffixes=config.trusted_domains,
        ins=ins,
        to_patient=config.to_patient or payload.metadata.get(FACT_TO_PATIENT) == "true",
    )


def hl7_qualified(payload: Payload) -> bool | None:
    """PID-32 of the carrying HL7 message (fact ``ins.qualified``), None when not HL7."""
    fact = payload.metadata.get(FACT_QUALIFIED, "").lower()
    return {"true": True, "false": False}.get(fact)


def qualified_ins(doc: CdaDocument) -> bool:
    """True when the CDA carries a qualified INS (matricule, OID, key, four traits)."""
    return patient_ins(doc, None) is not None


def xds_entry(
    doc: CdaDocument, config: MssanteDestinationConfig, tables: XdsTables
) -> tuple[DocumentEntry, CodedValue]:
    """The DocumentEntry of the document, from the DMP metadata map and the official
    tables, and the SubmissionSet contentTypeCode (the document's healthcareFacilityTypeCode
    when JDV_J03 has it, else ``content_type_code``). Raises PermanentDeliveryError."""
    settings = SubmissionSettings(
        source_id=config.source_id or "",
        content_type=config.content_type_code or "",
        default_facility_type=config.default_facility_type,
        default_practice_setting=config.default_practice_setting,
    )
    try:
        entry = document_entry(PreparedDocument(doc), tables, settings)
    except MappingError as exc:
        raise PermanentDeliveryError(f"METADATA.XML: {exc}") from exc
    facility = entry.healthcare_facility_type
    content_type = (
        facility
        if tables.contains(t.CONTENT_TYPES, facility)
        else tables.get(t.CONTENT_TYPES, config.content_type_code or "")
    )
    if content_type is None:
        raise PermanentDeliveryError(
            "METADATA.XML: no contentTypeCode (the document's healthcareFacilityTypeCode is "
            "not in xds_content_type_codes.yaml (JDV_J03) and content_type_code is not set)"
        )
    return entry, content_type


def source_id_of(config: MssanteDestinationConfig) -> str:
    """The configured sourceId, else a stable OID under 2.25 derived from the sender."""
    return config.source_id or oid_for("mssante-source-id", config.sender.lower())


def pdf_rendition(doc: CdaDocument) -> bytes | None:
    """The PDF of a level-1 CDA body, or the first PDF embedded in a level-3 CDA."""
    if doc.level is Level.UNSTRUCTURED:
        if doc.body_media_type != "application/pdf":
            return None
        try:
            return embedded_body(doc)
        except DocumentError:
            return None
    if doc.element is None:
        return None
    for value in doc.element.iterfind(".//h:observationMedia/h:value", NS):
        if value.get("mediaType") == "application/pdf" and value.get("representation") == "B64":
            text = "".join((value.text or "").split())
            try:
                return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
            except (binascii.Error, ValueError):
                return None
    return None


def _fields(doc: CdaDocument) -> dict[str, str]:
    patient = doc.header.patient
    birth = patient.birth_time[:8] if patient else ""
    return {
        "title": doc.header.title,
        "family": patient.name.birth_family if patient else "",
        "given": patient.name.first_given if patient else "",
        "birth_date": f"{birth[6:8]}/{birth[4:6]}/{birth[:4]}" if len(birth) == 8 else "",
    }


def _fill(template: str, fields: dict[str, str]) -> str:
    return " ".join(_PLACEHOLDER.sub(lambda m: fields.get(m.group(1), ""), template).split())


def compose(
    payload: Payload,
    context: DeliveryContext,
    config: MssanteDestinationConfig,
    *,
    allowlist: frozenset[str] | None = None,
    tables: XdsTables | None = None,
) -> OutgoingMail:
    """The mail of one delivery. Raises PermanentDeliveryError (see the module docstring).

    ``allowlist``: the domains of ``trusted_domains_file`` (read once by the destination);
    ``tables``: the xds_* tables (the project's when None).
    """
    if payload.content_type not in CDA_TYPES:
        raise PermanentDeliveryError(
            f"the mssante destination sends CDA documents, not {payload.content_type}"
        )
    try:
        doc = read_cda(payload.body)
    except DocumentError as exc:
        raise PermanentDeliveryError(f"the document is not a usable CDA: {exc}") from exc
    recipients = recipients_of(payload, config, doc=doc, allowlist=allowlist)
    entry, content_type = xds_entry(doc, config, tables or load_tables(config.tables_dir))
    try:
        metadata = metadata_for_entries(
            [(entry, doc.raw, "DOC0001.XML")],
            source_id=source_id_of(config),
            submission_key=context.delivery_id,
            content_type=content_type,
        )
        xdm = build_xdm(
            [OutgoingDocument("DOC0001.XML", doc.raw, doc.header.title or "Document")],
            metadata,
            sender=config.sender,
            product=PRODUCT,
        )
    except XdmError as exc:  # pragma: no cover - our own names are safe
        raise PermanentDeliveryError(f"cannot build the XDM package: {exc}") from exc
    domain = config.sender.rpartition("@")[2] or "localhost"
    message_id = outgoing_message_id(context.delivery_id, context.dedupe_key, domain)
    fields = _fields(doc)
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["From"] = config.sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = _fill(config.subject, fields) or "XDM/1.0/DDM"
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id
    if doc.header.code is not None and doc.header.code.code:
        msg["X-MSS-CODECDA"] = doc.header.code.code
    msg["X-MSS-INS"] = "O" if patient_ins(doc, hl7_qualified(payload)) else "N"
    msg["X-MSS-NIL"] = config.nil
    if config.end_of_exchange:
        msg["X-MSS-MES"] = "FIN"
    if config.read_receipt:
        msg["Disposition-Notification-To"] = config.sender
    msg.set_content(_fill(config.body, fields) + "\n")
    msg.add_attachment(xdm, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    pdf = pdf_rendition(doc)
    if pdf is not None:
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="DOC0001.PDF")
    return OutgoingMail(msg, message_id, recipients)


__all__ = [
    "CDA_TYPES",
    "MAIL_POLICY",
    "PLACEHOLDERS",
    "OutgoingMail",
    "compose",
    "hl7_qualified",
    "pdf_rendition",
    "qualified_ins",
    "recipients_of",
    "source_id_of",
    "xds_entry",
]
