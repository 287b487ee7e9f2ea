"""Safe XML parsing for documents received from outside (CDA, SOAP, XDS metadata).

Contract of :func:`parse_xml`: the bytes are refused, unread, when they are bigger than the
limit; a document with a DOCTYPE (and so any entity declaration) is refused as a possible
XML attack (billion laughs, external entities); nothing is ever fetched from the network
or the file system while parsing; entities are never expanded; lxml's ``huge_tree`` guard
stays on (depth and text-node limits). Every failure is a
:class:`~engine.errors.DocumentError` whose ``kind`` is ``oversize``, ``attack`` or
``malformed``; its message names the problem and never quotes document content.
"""

from __future__ import annotations

import re

from lxml import etree

from engine.errors import DocumentError

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
"""Default size limit of one document (the largest ANS examples are under 3 MB)."""

# A DOCTYPE (or a stray ENTITY declaration) before or anywhere in the document, in the
# ASCII-compatible encodings and in UTF-16 (both byte orders).
_DTD_MARKERS = tuple(
    re.compile(pattern)
    for marker in ("<!DOCTYPE", "<!ENTITY")
    for pattern in (
        re.escape(marker.encode("ascii")),
        re.escape(marker.encode("utf-16-le")),
        re.escape(marker.encode("utf-16-be")),
    )
)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_blank_text=False,
        collect_ids=False,
    )


def check_size(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Raise DocumentError(kind="oversize") when ``raw`` is longer than ``max_bytes``."""
    if len(raw) > max_bytes:
        raise DocumentError(
            f"document of {len(raw)} bytes exceeds the limit of {max_bytes} bytes",
            kind="oversize",
        )


def parse_xml(raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse ``raw`` safely and return its root element.

    Raises:
        DocumentError: ``oversize``, ``attack`` (DOCTYPE/ENTITY, entity references) or
            ``malformed`` (not well-formed XML, empty input).
    """
    check_size(raw, max_bytes)
    if not raw.strip():
        raise DocumentError("document is empty", kind="malformed")
    if any(marker.search(raw) for marker in _DTD_MARKERS):
        raise DocumentError(
            "document declares a DTD or entities (refused: possible XML attack)", kind="attack"
        )
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise DocumentError(f"not well-formed XML: {_syntax_message(exc)}") from exc
    except ValueError as exc:  # e.g. a str with an encoding declaration, bad encoding name
        raise DocumentError(f"not well-formed XML: {exc}") from exc
    tree = root.getroottree()
    if getattr(tree.docinfo, "doctype", "") or tree.docinfo.internalDTD is not None:
        raise DocumentError("document declares a DTD (refused: possible XML attack)", kind="attack")
    if _has_entity_references(root):
        raise DocumentError("document uses entity references (refused)", kind="attack")
    return root


def _has_entity_references(root: etree._Element) -> bool:
    return any(isinstance(node, etree._Entity) for node in root.iter(etree.Entity))


def _syntax_message(exc: etree.XMLSyntaxError) -> str:
    """libxml2's message without document text: the error kind and its position."""
    line, column = exc.position if exc.position else (0, 0)
    text = str(exc.msg or exc).split(",")[0].strip()
    # libxml2 sometimes quotes the offending token; keep only the message head.
    text = re.sub(r"'[^']*'", "'…'", text)
    return f"{text} (line {line}, column {column})"


__all__ = ["DEFAULT_MAX_BYTES", "check_size", "parse_xml"]
