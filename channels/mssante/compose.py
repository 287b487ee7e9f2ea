"""Composing the MSSanté mail that carries one CDA document.

The mail is ``multipart/mixed``: a short text part, ``IHE_XDM.ZIP`` (INDEX.HTM, README.TXT,
``IHE_XDM/SUBSET01/METADATA.XML`` and the document) and, when the CDA has one, its PDF
rendition (the body of a level-1 CDA, or the PDF copy embedded in a level-3 CDA). Headers:
``X-MSS-CODECDA`` (CDA code), ``X-MSS-INS`` (``O`` when the document carries a qualified
INS: a well-formed INS with a valid key under an INS OID and the four identity traits),
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
from email.utils import format_datetime, parseaddr

from channels.mssante.config import MssanteDestinationConfig
from channels.mssante.receipts import outgoing_message_id
from engine.components import DeliveryContext, Payload
from engine.errors import DocumentError, PermanentDeliveryError
from engine.formats.cda import CdaDocument, Level, embedded_body, read_cda
from engine.formats.cda.model import NS
from engine.formats.xdm import EntryCodes, OutgoingDocument, XdmError, build_xdm, metadata_xml
from engine.formats.xds.model import CodedValue
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


def recipients_of(payload: Payload, config: MssanteDestinationConfig) -> tuple[str, ...]:
    """Configured plus metadata recipients, each checked against the trusted domains."""
    listed = list(config.to)
    if config.recipients_metadata:
        extra = payload.metadata.get(config.recipients_metadata, "")
        listed += [a.strip() for a in re.split(r"[,;]", extra) if a.strip()]
    unique: dict[str, str] = {}
    for n, value in enumerate(listed, start=1):
        address = parseaddr(value)[1]
        local, _, domain = address.rpartition("@")
        if not local or not domain:
            raise PermanentDeliveryError(f"recipient {n} is not a mail address")
        domain = domain.lower().rstrip(".")
        trusted = (d.lower().lstrip(".") for d in config.trusted_domains)
        if not any(domain == d or domain.endswith("." + d) for d in trusted):
            raise PermanentDeliveryError(
                f"recipient {n} is outside the trusted domains (domain {domain})"
            )
        unique.setdefault(address.lower(), address)
    if not unique:
        raise PermanentDeliveryError("no recipient: set 'to' or 'recipients_metadata'")
    return tuple(unique.values())


def qualified_ins(doc: CdaDocument) -> bool:
    """True when the CDA carries a qualified INS (matricule, OID, key, four traits)."""
    patient = doc.header.patient
    if patient is None or patient.ins is None:
        return False
    ins = patient.ins
    traits = (patient.name.birth_family, patient.name.first_given, patient.birth_time)
    return ins.well_formed and ins.key_ok and all(traits) and bool(patient.gender)


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
    payload: Payload, context: DeliveryContext, config: MssanteDestinationConfig
) -> OutgoingMail:
    """The mail of one delivery. Raises PermanentDeliveryError (see the module docstring)."""
    if payload.content_type not in CDA_TYPES:
        raise PermanentDeliveryError(
            f"the mssante destination sends CDA documents, not {payload.content_type}"
        )
    recipients = recipients_of(payload, config)
    try:
        doc = read_cda(payload.body)
    except DocumentError as exc:
        raise PermanentDeliveryError(f"the document is not a usable CDA: {exc}") from exc
    codes = EntryCodes(
        class_code=CodedValue(**config.class_code.model_dump()) if config.class_code else None
    )
    try:
        metadata = metadata_xml(
            [(doc, "DOC0001.XML", codes)],
            source_id=config.source_id,
            submission_key=context.delivery_id,
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
    msg["X-MSS-INS"] = "O" if qualified_ins(doc) else "N"
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
    "pdf_rendition",
    "qualified_ins",
]
