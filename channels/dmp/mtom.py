"""MTOM/XOP over ``multipart/related`` (W3C SOAP MTOM, XOP), written by hand: zeep cannot
send MTOM. Both directions are here because the DMP may answer in MTOM too, and the test
endpoint reads what the destination writes.

Encoding: the root part is the SOAP envelope (``application/xop+xml; charset=UTF-8;
type="application/soap+xml"; action="..."``, each parameter quoted on its own), every
attachment a binary part named by its Content-ID and
referenced from the envelope by ``<xop:Include href="cid:..."/>``.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import quote, unquote

from lxml import etree

from engine.errors import DocumentError

XOP_NS = "http://www.w3.org/2004/08/xop/include"
ROOT_ID = "root.message@passerelle"
CRLF = b"\r\n"


@dataclass(frozen=True, slots=True)
class Multipart:
    """A decoded ``multipart/related`` body: the root part and the attachments by Content-ID."""

    root: bytes
    root_type: str
    parts: Mapping[str, bytes] = field(default_factory=dict)


def _params(content_type: str) -> Message:
    header = Message()
    header["Content-Type"] = content_type
    return header


def encode(
    envelope: bytes,
    attachments: Mapping[str, bytes],
    *,
    action: str,
    types: Mapping[str, str] | None = None,
) -> tuple[bytes, str]:
    """The HTTP body and its Content-Type for a SOAP 1.2 envelope with MTOM attachments.

    ``types`` gives each attachment's Content-Type (``application/octet-stream`` otherwise).
    """
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    # type and action are two parameters, each quoted (RFC 2045 §5.1, RFC 2387), as in the
    # DMP test request: type="application/soap+xml"; action="..."
    root_type = (
        f'application/xop+xml; charset=UTF-8; type="application/soap+xml"; action="{action}"'
    )
    chunks = [
        b"--" + boundary.encode(),
        f"Content-Type: {root_type}".encode(),
        b"Content-Transfer-Encoding: binary",
        f"Content-ID: <{ROOT_ID}>".encode(),
        b"",
        envelope,
    ]
    for cid, content in attachments.items():
        chunks += [
            b"--" + boundary.encode(),
            f"Content-Type: {(types or {}).get(cid, 'application/octet-stream')}".encode(),
            b"Content-Transfer-Encoding: binary",
            f"Content-ID: <{cid}>".encode(),
            b"",
            content,
        ]
    chunks.append(b"--" + boundary.encode() + b"--")
    body = CRLF.join(chunks) + CRLF
    content_type = (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; '
        f'start="<{ROOT_ID}>"; start-info="application/soap+xml"; action="{action}"'
    )
    return body, content_type


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def decode(body: bytes, content_type: str) -> Multipart:
    """Split a ``multipart/related`` body. A non-multipart body is returned as the root.

    Raises:
        DocumentError: no boundary, no parts, or no root part.
    """
    header = _params(content_type)
    if header.get_content_maintype() != "multipart":
        return Multipart(body, header.get_content_type())
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise DocumentError("multipart body without a boundary", kind="malformed")
    delimiter = b"--" + boundary.encode("latin-1")
    sections = body.split(CRLF + delimiter)
    first = sections[0]
    if not first.startswith(delimiter):
        first = first[first.find(delimiter) :] if delimiter in first else b""
    sections[0] = first[len(delimiter) :]
    parts: list[tuple[dict[str, str], bytes]] = []
    for section in sections:
        if section.startswith(b"--"):
            break
        head, sep, content = section.removeprefix(CRLF).partition(CRLF + CRLF)
        if not sep:
            continue
        parts.append((_headers(head), content))
    if not parts:
        raise DocumentError("multipart body without any part", kind="malformed")
    start = header.get_param("start")
    root_id = start.strip("<>") if isinstance(start, str) else ""
    ids = [h.get("content-id", "").strip("<>") for h, _ in parts]
    index = ids.index(root_id) if root_id in ids else 0
    root_headers, root = parts[index]
    attachments = {cid: parts[i][1] for i, cid in enumerate(ids) if cid and i != index}
    return Multipart(root, root_headers.get("content-type", ""), attachments)


def href_for(content_id: str) -> str:
    """The ``cid:`` URL of a Content-ID (RFC 2392 escaping)."""
    return "cid:" + quote(content_id, safe="@.-_")


def resolve_includes(root: etree._Element, parts: Mapping[str, bytes]) -> dict[str, bytes]:
    """Replace every ``xop:Include`` under ``root`` by the Base64 of its part (in place).

    Returns ``{parent element id attribute: bytes}`` for the resolved parents.

    Raises:
        DocumentError: an include points at a part that is not in the message.
    """
    resolved: dict[str, bytes] = {}
    for include in list(root.iter(f"{{{XOP_NS}}}Include")):
        href = include.get("href", "")
        cid = unquote(href.removeprefix("cid:"))
        if cid not in parts:
            raise DocumentError(f"xop:Include refers to a missing part {href!r}", kind="invalid")
        parent = include.getparent()
        if parent is None:
            continue
        parent.remove(include)
        parent.text = base64.b64encode(parts[cid]).decode("ascii")
        resolved[parent.get("id", cid)] = parts[cid]
    return resolved


__all__ = ["ROOT_ID", "XOP_NS", "Multipart", "decode", "encode", "href_for", "resolve_includes"]
