"""From a parsed mail to the internal messages it becomes: one per document of its
IHE_XDM.ZIP, each with the mail's metadata.

Metadata of every message (strings; never logged): ``mssante.message_id``,
``mssante.from``, ``mssante.to``, ``mssante.subject``, ``mssante.date``,
``mssante.x_mss_*`` (each X-MSS-* header), ``mssante.mdn_requested``,
``mssante.dedupe_key``; for documents ``xdm.unique_id``, ``xdm.path``, ``xdm.mime_type``,
``xdm.type_code``, ``xdm.hash_ok``, ``xdm.size_ok``, ``xdm.document`` (``1/2``),
``xdm.submission_set``, ``xdm.warnings`` and, for a CDA, the ``cda.*`` facts of
:meth:`~engine.formats.cda.CdaDocument.metadata`.

A document declared as XML that is malformed, oversize or an XML attack refuses the mail;
an XML document that is not a CDA is kept with its declared media type.
"""

from __future__ import annotations

from dataclasses import dataclass

from channels.mssante.config import XdmLimits
from channels.mssante.dedupe import DEDUPE_KEY, document_key
from channels.mssante.mime import IncomingMail, MailError
from channels.mssante.receipts import Receipt
from engine.errors import DocumentError
from engine.formats.cda import CDA_CONTENT_TYPE, read_cda
from engine.formats.xdm import XdmDocument, XdmError, ZipLimits, read_xdm

_XML_TYPES = {"text/xml", "application/xml", "application/xslt+xml", "application/cda+xml"}
_FATAL_KINDS = {"malformed", "oversize", "attack"}


@dataclass(frozen=True, slots=True)
class DocumentMessage:
    """One internal message to accept: bytes, media type, metadata, dedupe key."""

    raw: bytes
    content_type: str
    metadata: dict[str, str]

    @property
    def key(self) -> str:
        return self.metadata[DEDUPE_KEY]


def mail_metadata(mail: IncomingMail) -> dict[str, str]:
    """The facts of the mail every message of it carries."""
    facts = {
        "mssante.message_id": mail.message_id,
        "mssante.from": mail.sender,
        "mssante.to": ",".join(mail.recipients),
        "mssante.subject": mail.subject,
        "mssante.date": mail.date,
        "mssante.mdn_requested": "true" if mail.notification_to else "false",
    }
    for name, value in mail.mss_headers.items():
        facts[f"mssante.{name.replace('-', '_')}"] = value
    return facts


def receipt_record(
    mail: IncomingMail, raw: bytes, receipt: Receipt, found: bool | None
) -> DocumentMessage:
    """The message recording a DSN or MDN: the whole mail, ``mssante.receipt.*`` facts
    (``matched``: the named delivery exists, ``false``, or ``unknown`` without a store)."""
    facts = {**mail_metadata(mail), **receipt.metadata()}
    matched = "unknown" if found is None else str(found).lower()
    facts["mssante.receipt.matched"] = matched if receipt.delivery_id else "false"
    facts[DEDUPE_KEY] = document_key(mail.message_id, "receipt")
    kind = "delivery-status" if receipt.kind == "dsn" else "disposition-notification"
    return DocumentMessage(raw, f"message/{kind}", facts)


def zip_limits(limits: XdmLimits) -> ZipLimits:
    return ZipLimits(
        max_archive_size=limits.max_mail_size,
        max_entries=limits.max_entries,
        max_entry_size=limits.max_document_size,
        max_total_size=limits.max_total_size,
        max_ratio=limits.max_ratio,
    )


def _document(
    mail: IncomingMail, doc: XdmDocument, n: int, total: int, limits: XdmLimits
) -> DocumentMessage:
    entry = doc.entry
    facts = {
        **mail_metadata(mail),
        DEDUPE_KEY: document_key(mail.message_id, doc.key),
        "xdm.unique_id": entry.unique_id,
        "xdm.path": doc.path,
        "xdm.mime_type": entry.mime_type,
        "xdm.type_code": entry.type_code,
        "xdm.hash_ok": str(doc.hash_ok).lower(),
        "xdm.size_ok": str(doc.size_ok).lower(),
        "xdm.document": f"{n}/{total}",
    }
    content_type = entry.mime_type or "application/octet-stream"
    if entry.mime_type in _XML_TYPES or doc.path.upper().endswith(".XML"):
        try:
            cda = read_cda(doc.content, max_bytes=limits.max_document_size)
        except DocumentError as exc:
            if exc.kind in _FATAL_KINDS:
                raise MailError(f"document {n} of the XDM is unusable: {exc}") from exc
            facts["xdm.cda_error"] = exc.kind
        else:
            content_type = CDA_CONTENT_TYPE
            facts.update(cda.metadata())
    return DocumentMessage(doc.content, content_type, facts)


def documents_of(mail: IncomingMail, limits: XdmLimits, *, strict: bool) -> list[DocumentMessage]:
    """The messages of a document mail.

    Raises:
        MailError: no IHE_XDM.ZIP, an unusable archive or metadata (the reason says why),
            no document in it, or an unusable XML document.
    """
    attachment = mail.xdm
    if attachment is None:
        raise MailError("the mail has no IHE_XDM.ZIP attachment", code="101")
    try:
        package = read_xdm(attachment.content, limits=zip_limits(limits), strict=strict)
    except XdmError as exc:
        raise MailError(f"IHE_XDM.ZIP refused ({exc.kind}): {exc}") from exc
    if not package.documents:
        raise MailError("the IHE_XDM.ZIP holds no document", code="101")
    submission = ",".join(s.unique_id for s in package.submissions if s.unique_id)
    warnings = "; ".join(package.warnings)
    total = len(package.documents)
    out = []
    for n, doc in enumerate(package.documents, start=1):
        message = _document(mail, doc, n, total, limits)
        message.metadata["xdm.submission_set"] = submission
        if warnings:
            message.metadata["xdm.warnings"] = warnings[:500]
        out.append(message)
    keys = [m.key for m in out]
    if len(set(keys)) != len(keys):
        raise MailError("two documents of the IHE_XDM.ZIP have the same uniqueId", code="205")
    return out


__all__ = [
    "DocumentMessage",
    "documents_of",
    "mail_metadata",
    "receipt_record",
    "zip_limits",
]
