"""Payloads as text for operators: the raw message decoded with its charset and laid out
in segments, and what an attempt sent and received (a FHIR Bundle, XDS metadata, mail
headers), with binary parts replaced by their size.

Work is bounded: at most :data:`MAX_TEXT` characters of text and :data:`MAX_SEGMENTS`
segments are returned (``truncated`` says so).
"""

from __future__ import annotations

import json
import re
from email import message_from_bytes, policy
from email.message import Message as MailMessage
from typing import Any

from engine.errors import ParseError
from engine.formats.hl7v2 import parse_stored
from engine.message import Envelope

MAX_TEXT = 1_000_000
MAX_SEGMENTS = 2_000
_XML_ENCODING = re.compile(rb"^<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']")
_HEADER_LINE = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*: ")


def _cut(text: str) -> tuple[str, bool]:
    return (text[:MAX_TEXT], True) if len(text) > MAX_TEXT else (text, False)


def raw_view(envelope: Envelope) -> dict[str, Any]:
    """``{"charset","size","text","format","segments","truncated"}`` of a stored message."""
    raw = envelope.raw
    head = raw.lstrip()[:3]
    if envelope.content_type == "application/hl7-v2" or head in (b"MSH", b"BHS", b"FHS"):
        try:
            message = parse_stored(raw, envelope.metadata)
        except ParseError:
            message = None
        if message is not None:
            text, truncated = _cut(message.to_text())
            return {
                "charset": message.codec,
                "size": len(raw),
                "text": text,
                "format": "hl7v2",
                "segments": _segments(text, message.delimiters.field),
                "truncated": truncated,
            }
    if raw.lstrip().startswith(b"<") or "xml" in envelope.content_type:
        found = _XML_ENCODING.match(raw.lstrip())
        charset = found.group(1).decode("ascii") if found else "utf-8"
        text, truncated = _cut(_decode(raw, charset))
        return {"charset": charset, "size": len(raw), "text": text, "format": "xml",
                "segments": None, "truncated": truncated}  # fmt: skip
    text, truncated = _cut(_decode(raw, "utf-8"))
    return {"charset": "utf-8", "size": len(raw), "text": text, "format": "other",
            "segments": None, "truncated": truncated}  # fmt: skip


def _decode(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def _segments(text: str, separator: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for line in re.split(r"\r\n|\r|\n", text):
        if not line:
            continue
        if len(out) >= MAX_SEGMENTS:
            break
        parts = line.split(separator)
        name = parts[0]
        fields = [separator, *parts[1:]] if name in ("MSH", "BHS", "FHS") else parts[1:]
        out.append({"name": name, "fields": fields})
    return out


def payload_view(body: bytes | None) -> dict[str, Any] | None:
    """``{"content_type","text","truncated"}`` of what an attempt sent or received."""
    if body is None:
        return None
    stripped = body.lstrip()
    if stripped[:1] in (b"{", b"["):
        try:
            text = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
            kind = (
                "application/fhir+json" if b'"resourceType"' in body[:4096] else "application/json"
            )
            return _text(kind, text)
        except ValueError:
            pass
    if stripped.startswith(b"<"):
        found = _XML_ENCODING.match(stripped)
        return _text(
            "application/xml", _decode(body, found.group(1).decode() if found else "utf-8")
        )
    if stripped.startswith(b"--") or _HEADER_LINE.match(stripped):
        return _text("message/rfc822" if not stripped.startswith(b"--") else "multipart/related",
                     _mime_text(body))  # fmt: skip
    return _text("text/plain", _decode(body, "utf-8"))


def _text(content_type: str, text: str) -> dict[str, Any]:
    cut, truncated = _cut(text)
    return {"content_type": content_type, "text": cut, "truncated": truncated}


def _mime_text(body: bytes) -> str:
    """Headers and textual parts of a MIME document (mail, MTOM/XOP SOAP); binary parts
    (the document itself, attachments) are shown by type and size only."""
    if body.lstrip().startswith(b"--"):
        boundary = body.lstrip().split(b"\r\n", 1)[0].split(b"\n", 1)[0][2:].strip()
        body = b'Content-Type: multipart/related; boundary="' + boundary + b'"\r\n\r\n' + body
    mail = message_from_bytes(body, policy=policy.compat32)
    lines: list[str] = []
    _walk(mail, lines, 0)
    return "\n".join(lines)


def _walk(part: MailMessage, lines: list[str], depth: int) -> None:
    pad = "  " * depth
    if depth:
        lines.append(f"{pad}--- part")
    for key, value in part.items():
        lines.append(f"{pad}{key}: {value}")
    if part.is_multipart():
        for sub in part.get_payload():
            if isinstance(sub, MailMessage):
                _walk(sub, lines, depth + 1)
        return
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    ctype = part.get_content_type()
    if ctype.startswith("text/") or ctype.endswith(("xml", "json")):
        charset = part.get_content_charset() or "utf-8"
        lines.append("")
        lines.extend(pad + line for line in _decode(data, charset).splitlines())
    else:
        lines.append(f"{pad}[{ctype}, {len(data)} bytes not shown]")


__all__ = ["MAX_SEGMENTS", "MAX_TEXT", "payload_view", "raw_view"]
