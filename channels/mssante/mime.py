"""Reading received mails: headers, attachments, the IHE_XDM.ZIP, and what makes a mail
unusable.

:func:`parse_mail` never raises a library error: every problem becomes a :class:`MailError`
whose message is a patient-free reason (no addresses, no subject, no content). Refused:
mails over the size limit, mails the ``email`` package cannot read, too many MIME parts,
headers that are not UTF-8 (MSSanté mails are UTF-8, RFC 6532), text parts whose charset is
unknown or does not decode. A missing Message-ID is replaced by a digest of the mail, so a
mail fetched twice gets the same identity.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

from engine.errors import MessageError

MAX_PARTS = 200
MAX_DEPTH = 20
XDM_NAME = "ihe_xdm.zip"
_ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/x-zip"}
_MSGID = re.compile(r"<[^<>\s]+>")


class MailError(MessageError):
    """A received mail cannot be understood; the message is a patient-free reason.

    ``code`` is the error code of the MDN ``processed/Error`` disposition (HL7 table 0357
    ``messageErrorCondition`` as the MSSanté MDN rules use it: 101 required element missing,
    102 unusable content, 205 duplicate identifier, 207 application error).
    """

    def __init__(self, message: str, *, code: str = "102") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attached file: name (may be empty), media type, decoded bytes."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class IncomingMail:
    """What intake needs from a received mail."""

    message_id: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    date: str
    mss_headers: dict[str, str]
    notification_to: str
    report_type: str
    attachments: tuple[Attachment, ...]
    message: EmailMessage = field(repr=False, compare=False)

    @property
    def xdm(self) -> Attachment | None:
        """The IHE_XDM.ZIP attachment: by name, else the only ZIP attached."""
        named = [a for a in self.attachments if a.filename.casefold() == XDM_NAME]
        if named:
            return named[0]
        zips = [a for a in self.attachments if a.content_type in _ZIP_TYPES]
        return zips[0] if len(zips) == 1 else None

    @property
    def pdfs(self) -> tuple[Attachment, ...]:
        return tuple(a for a in self.attachments if a.content_type == "application/pdf")


def _header(msg: Message, name: str) -> str:
    """A header as text; MailError when it cannot be parsed."""
    try:
        value = msg.get(name)
    except (ValueError, TypeError, IndexError, AttributeError) as exc:
        raise MailError(f"the {name} header cannot be parsed") from exc
    if value is None:
        return ""
    return " ".join(str(value).split())


def normalise_message_id(value: str) -> str:
    """``<id@host>`` from a Message-ID header value, or "" when there is none."""
    found = _MSGID.search(value)
    return found.group(0) if found else ""


_RAW_MSGID = re.compile(rb"^message-id:[ \t]*(<[!-=?-~]+>)", re.IGNORECASE | re.MULTILINE)


def sniff_message_id(raw: bytes) -> str:
    """The Message-ID of a mail that cannot be parsed, read from its raw header, or a
    digest of the bytes (stable across fetches)."""
    head = raw[: 64 * 1024].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    found = _RAW_MSGID.search(head)
    if found:
        return found.group(1).decode("ascii")
    return f"<{hashlib.sha256(raw).hexdigest()[:32]}@unreadable.invalid>"


def _check_text(part: Message) -> None:
    charset = part.get_content_charset() or "us-ascii"
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return
    try:
        payload.decode(charset)
    except LookupError as exc:
        raise MailError("a text part declares an unknown charset") from exc
    except UnicodeDecodeError as exc:
        raise MailError(f"a text part does not decode as its declared charset {charset}") from exc


def _parts(msg: EmailMessage) -> list[EmailMessage]:
    """Every part, depth first, without entering attached messages (message/*)."""
    out: list[EmailMessage] = []
    stack: list[tuple[EmailMessage, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        out.append(part)
        if len(out) > MAX_PARTS:
            raise MailError(f"the mail has more than {MAX_PARTS} MIME parts")
        if depth > MAX_DEPTH:
            raise MailError(f"the MIME structure is nested deeper than {MAX_DEPTH}")
        if part.is_multipart() and not part.get_content_type().startswith("message/"):
            children = [p for p in part.iter_parts() if isinstance(p, EmailMessage)]
            stack.extend((child, depth + 1) for child in reversed(children))
    return out


def _attachments(msg: EmailMessage) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    for part in _parts(msg):
        content_type = part.get_content_type()
        if part.is_multipart() or content_type.startswith("message/"):
            continue  # containers, and reports read by the receipts module
        try:
            filename = part.get_filename() or ""
        except (ValueError, TypeError, LookupError) as exc:
            raise MailError("an attachment name cannot be decoded") from exc
        if content_type.startswith("text/") and not filename:
            if content_type != "text/rfc822-headers":
                _check_text(part)
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            found.append(Attachment(filename, content_type, payload))
    return tuple(found)


def parse_mail(raw: bytes, *, max_size: int) -> IncomingMail:
    """Parse a received mail.

    Raises:
        MailError: see the module docstring.
    """
    if len(raw) > max_size:
        raise MailError(f"the mail of {len(raw)} bytes exceeds the limit of {max_size}")
    try:
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
    except (ValueError, TypeError, IndexError, LookupError) as exc:
        raise MailError(f"the mail cannot be parsed ({type(exc).__name__})") from exc
    if not isinstance(parsed, EmailMessage):  # pragma: no cover - policy.default gives one
        raise MailError("the mail cannot be parsed")
    if not parsed.keys():
        raise MailError("the mail has no headers")
    for name, value in parsed.raw_items():
        try:  # raw 8-bit header bytes come back as surrogates; they must be UTF-8
            str(value).encode("utf-8", "surrogateescape").decode("utf-8")
        except UnicodeError as exc:
            raise MailError(f"the {name[:40]} header is not valid UTF-8") from exc
    message_id = normalise_message_id(_header(parsed, "Message-ID"))
    if not message_id:
        message_id = f"<{hashlib.sha256(raw).hexdigest()[:32]}@no-message-id.invalid>"
    sender = parseaddr(_header(parsed, "From"))[1]
    recipients = tuple(a for _, a in getaddresses([_header(parsed, "To")]) if a)
    mss = {
        name.lower(): _header(parsed, name)
        for name in dict.fromkeys(parsed.keys())
        if name.lower().startswith("x-mss-")
    }
    try:
        attachments = _attachments(parsed)
        report_type = ""
        if parsed.get_content_type() == "multipart/report":
            report_type = str(parsed.get_param("report-type") or "").lower()
    except MailError:
        raise
    except (ValueError, TypeError, IndexError, LookupError, AttributeError) as exc:
        raise MailError(f"the MIME structure cannot be read ({type(exc).__name__})") from exc
    return IncomingMail(
        message_id=message_id,
        sender=sender,
        recipients=recipients,
        subject=_header(parsed, "Subject"),
        date=_header(parsed, "Date"),
        mss_headers=mss,
        notification_to=parseaddr(_header(parsed, "Disposition-Notification-To"))[1],
        report_type=report_type,
        attachments=attachments,
        message=parsed,
    )


__all__ = [
    "Attachment",
    "IncomingMail",
    "MailError",
    "normalise_message_id",
    "parse_mail",
    "sniff_message_id",
]
