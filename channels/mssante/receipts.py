"""Delivery and read receipts: the Message-ID of the mails we send, reading DSNs (RFC 3464)
and MDNs (RFC 8098) received for them, and writing the MDNs we owe.

A mail we send has the Message-ID ``<DELIVERY_ID.DIGEST@domain>`` and the DSN envelope id
``DELIVERY_ID``: stable across retries of a delivery, and enough to find the delivery again
from a receipt (:func:`delivery_id_of`) without a store query. MDNs follow the ANS volet
"Transmission à un LPS d'un document CDA reçu par courriel MSSanté": ``processed`` on
success, ``processed/Error: <code>^<label>^messageErrorCondition| E^Error^errorSeverity``
on refusal, the original attachments re-attached.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.utils import format_datetime, parseaddr

from channels.mssante.mime import IncomingMail, normalise_message_id
from engine.message import utcnow

_OURS = re.compile(r"^<([0-9A-HJKMNP-TV-Z]{26})\.[0-9a-f]{12}@[^>]+>$")
_ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_ACTION_RANK = {"failed": 3, "delayed": 2, "delivered": 1, "relayed": 1, "expanded": 1}
REFUSAL_CODE = "207"
_MAX_DETAIL = 200


def outgoing_message_id(delivery_id: str, dedupe_key: str, domain: str) -> str:
    """The Message-ID of the mail of a delivery: the same on every attempt."""
    digest = hashlib.sha256(f"{delivery_id}|{dedupe_key}".encode()).hexdigest()[:12]
    return f"<{delivery_id}.{digest}@{domain}>"


def delivery_id_of(message_id: str) -> str:
    """The delivery id inside a Message-ID we wrote, or ""."""
    found = _OURS.match(normalise_message_id(message_id))
    return found.group(1) if found else ""


@dataclass(frozen=True, slots=True)
class Receipt:
    """A DSN or MDN about a mail we sent. ``status`` is the worst DSN action (``failed``,
    ``delayed``, ``delivered``) or the MDN disposition (``processed``, ``displayed``,
    ``processed/error``...). ``detail`` holds status codes or the error text, truncated."""

    kind: str
    original_message_id: str
    delivery_id: str
    status: str
    detail: str
    recipients: int

    def metadata(self) -> dict[str, str]:
        return {
            "mssante.receipt.kind": self.kind,
            "mssante.receipt.original_message_id": self.original_message_id,
            "mssante.receipt.delivery_id": self.delivery_id,
            "mssante.receipt.status": self.status,
            "mssante.receipt.detail": self.detail,
            "mssante.receipt.recipients": str(self.recipients),
        }


def _report_part(message: EmailMessage, content_type: str) -> list[Message]:
    for part in message.walk():
        if part.get_content_type() == content_type:
            payload = part.get_payload()
            if isinstance(payload, list):
                return [p for p in payload if isinstance(p, Message)]
            return [HeaderParser().parsestr(str(payload))]
    return []


def _returned_message_id(message: EmailMessage) -> str:
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return normalise_message_id(str(inner[0].get("Message-ID", "")))
        if kind == "text/rfc822-headers":
            headers = HeaderParser().parsestr(str(part.get_payload()))
            return normalise_message_id(str(headers.get("Message-ID", "")))
    return ""


def _field(block: Message, name: str) -> str:
    return " ".join(str(block.get(name, "")).split())


def read_receipt(mail: IncomingMail) -> Receipt | None:
    """The receipt in a ``multipart/report`` mail, or None when it is not one."""
    if mail.report_type == "delivery-status":
        blocks = _report_part(mail.message, "message/delivery-status")
        if not blocks:
            return None
        envelope_id = _field(blocks[0], "Original-Envelope-Id")
        recipients = blocks[1:]
        actions = [_field(b, "Action").lower() for b in recipients]
        status = max(actions, key=lambda a: _ACTION_RANK.get(a, 0), default="")
        codes = ",".join(sorted({_field(b, "Status") for b in recipients} - {""}))
        original = _returned_message_id(mail.message)
        delivery = envelope_id if _ULID.match(envelope_id) else delivery_id_of(original)
        status = "delivered" if status in ("relayed", "expanded") else status
        return Receipt("dsn", original, delivery, status, codes[:_MAX_DETAIL], len(recipients))
    if mail.report_type == "disposition-notification":
        blocks = _report_part(mail.message, "message/disposition-notification")
        if not blocks:
            return None
        original = normalise_message_id(_field(blocks[0], "Original-Message-ID"))
        original = original or _returned_message_id(mail.message)
        disposition = _field(blocks[0], "Disposition")
        _, _, kind = disposition.partition(";")
        kind = kind.strip()
        status, _, error = kind.partition(":")
        return Receipt(
            "mdn",
            original,
            delivery_id_of(original),
            status.strip().lower(),
            error.strip()[:_MAX_DETAIL],
            1,
        )
    return None


def build_mdn(
    original: IncomingMail,
    *,
    sender: str,
    reporting_ua: str,
    refusal: str | None,
    code: str = REFUSAL_CODE,
) -> EmailMessage:
    """The MDN answering ``original`` (which asked for one): ``processed``, or
    ``processed/Error`` with the patient-free ``refusal`` reason. Its Message-ID derives
    from the original's, so a resent MDN has the same."""
    domain = sender.rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(original.message_id.encode()).hexdigest()[:24]
    mdn = EmailMessage(policy=policy.SMTP.clone(max_line_length=998))
    mdn["From"] = sender
    mdn["To"] = original.notification_to
    prefix = f"[KO Intégration système !][{code}] " if refusal else ""
    mdn["Subject"] = f"{prefix}{original.subject}".strip() or "Accusé de traitement"
    mdn["Date"] = format_datetime(utcnow())
    mdn["Message-ID"] = f"<mdn.{digest}@{domain}>"
    mdn["In-Reply-To"] = original.message_id
    mdn["References"] = original.message_id
    mdn["Auto-Submitted"] = "auto-replied"
    text = (
        f"Le message {original.message_id} n'a pas pu être intégré : {refusal}.\n"
        if refusal
        else f"Le message {original.message_id} a été intégré.\n"
    )
    mdn["MIME-Version"] = "1.0"
    mdn["Content-Type"] = 'multipart/report; report-type="disposition-notification"'
    human = EmailMessage()
    human.set_content(text)
    mdn.attach(human)
    disposition = "automatic-action/MDN-sent-automatically; processed"
    if refusal:
        label = " ".join(refusal.replace("^", " ").replace("|", " ").split())[:_MAX_DETAIL]
        disposition += f"/Error: {code}^{label}^messageErrorCondition| E^Error^errorSeverity"
    recipient = parseaddr(sender)[1]
    fields = (
        f"Reporting-UA: {reporting_ua}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        f"Final-Recipient: rfc822;{recipient}\r\n"
        f"Original-Message-ID: {original.message_id}\r\n"
        f"Disposition: {disposition}\r\n"
    )
    report = EmailMessage()
    report["Content-Type"] = "message/disposition-notification"
    report.set_payload(fields)
    mdn.attach(report)
    for attachment in original.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        part = EmailMessage()
        part.set_content(
            attachment.content,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            disposition="attachment",
            filename=attachment.filename or None,
        )
        mdn.attach(part)
    return mdn


__all__ = [
    "REFUSAL_CODE",
    "Receipt",
    "build_mdn",
    "delivery_id_of",
    "outgoing_message_id",
    "read_receipt",
]
