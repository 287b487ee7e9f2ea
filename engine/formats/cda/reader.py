"""Reading a CDA R2 document: safe parse, auto-presentable unwrapping, level, header.

:func:`read_cda` is the one entry point. A CDA arrives either as a ``ClinicalDocument``
root, or wrapped by the ANS "auto-presentable" form: an ``xsl:stylesheet`` root holding the
CDA at ``data:Contenu/ClinicalDocument`` (``data`` = ``urn:asip-sante:ci-sis``). The bytes
are never rewritten: a wrapped document is shared as is, with XDS mimeType
``application/xslt+xml``.
"""

from __future__ import annotations

import base64
import binascii

from lxml import etree

from engine.errors import DocumentError
from engine.formats.cda.header import read_header
from engine.formats.cda.model import HL7_NS, NS, CdaDocument, Level
from engine.formats.cda.safe_xml import DEFAULT_MAX_BYTES, parse_xml

XSL_NS = "http://www.w3.org/1999/XSL/Transform"
ASIP_NS = "urn:asip-sante:ci-sis"
CLINICAL_DOCUMENT = f"{{{HL7_NS}}}ClinicalDocument"
MIME_CDA = "text/xml"
MIME_AUTOPRESENTABLE = "application/xslt+xml"


def unwrap(root: etree._Element) -> tuple[etree._Element, bool]:
    """The ``ClinicalDocument`` element and whether it was inside an auto-presentable wrapper.

    Raises:
        DocumentError: kind ``not-cda`` when there is no CDA where one is expected.
    """
    if root.tag == CLINICAL_DOCUMENT:
        return root, False
    if root.tag == f"{{{XSL_NS}}}stylesheet":
        found = root.find(f"{{{ASIP_NS}}}Contenu/{CLINICAL_DOCUMENT}")
        if found is None:
            raise DocumentError(
                "xsl:stylesheet without data:Contenu/ClinicalDocument: not an auto-presentable CDA",
                kind="not-cda",
            )
        return found, True
    name = etree.QName(root)
    raise DocumentError(
        f"root element {{{name.namespace or ''}}}{name.localname} is not a CDA R2 ClinicalDocument",
        kind="not-cda",
    )


def _level(doc: etree._Element) -> tuple[Level, str]:
    component = doc.find(f"{{{HL7_NS}}}component")
    if component is not None:
        if component.find(f"{{{HL7_NS}}}structuredBody") is not None:
            return Level.STRUCTURED, ""
        body = component.find(f"{{{HL7_NS}}}nonXMLBody")
        if body is not None:
            text = body.find(f"{{{HL7_NS}}}text")
            media = (text.get("mediaType") or "") if text is not None else ""
            return Level.UNSTRUCTURED, media
    raise DocumentError(
        "the CDA has neither component/structuredBody nor component/nonXMLBody", kind="invalid"
    )


def read_cda(raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> CdaDocument:
    """Parse ``raw`` safely and read its header.

    Raises:
        DocumentError: ``oversize``/``attack``/``malformed`` (see
            :func:`~engine.formats.cda.safe_xml.parse_xml`), ``not-cda`` (another XML
            document), ``invalid`` (a CDA without a body).
    """
    root = parse_xml(raw, max_bytes=max_bytes)
    doc, wrapped = unwrap(root)
    level, media = _level(doc)
    return CdaDocument(
        raw=raw,
        header=read_header(doc),
        level=level,
        autopresentable=wrapped,
        mime_type=MIME_AUTOPRESENTABLE if wrapped else MIME_CDA,
        body_media_type=media,
        element=doc,
    )


def embedded_body(document: CdaDocument) -> bytes:
    """The decoded ``nonXMLBody/text`` of a level-1 CDA (the PDF...).

    Raises:
        DocumentError: not level 1, a body by reference only, or bad Base64.
    """
    if document.level is not Level.UNSTRUCTURED or document.element is None:
        raise DocumentError("only a level-1 CDA has an embedded body", kind="invalid")
    text = document.element.find("h:component/h:nonXMLBody/h:text", NS)
    if text is None or not "".join((text.text or "").split()):
        raise DocumentError("the nonXMLBody carries a reference, not the content", kind="invalid")
    data = "".join((text.text or "").split())
    if text.get("representation", "TXT") != "B64":
        return data.encode("utf-8")
    try:
        return base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DocumentError("the nonXMLBody is not valid Base64", kind="invalid") from exc


__all__ = [
    "ASIP_NS",
    "CLINICAL_DOCUMENT",
    "MIME_AUTOPRESENTABLE",
    "MIME_CDA",
    "XSL_NS",
    "embedded_body",
    "read_cda",
    "unwrap",
]
