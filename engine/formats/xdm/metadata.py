"""Reading ``METADATA.XML`` (an ebRS 3.0 ``SubmitObjectsRequest``) the way real archives
write it.

Elements are matched by local name, so the file may use the ebRIM namespaces, none at all,
or a prefix it never declares (the ANS sample has ``<ns3:SubmitObjectsRequest>`` without
``xmlns:ns3`` and no XML declaration): such a file is parsed again in recovery mode only
when namespace errors are its only problems. Slots may come in any order (the ANS sample
puts ``URI`` after the ExternalIdentifiers), and identifiers with an unknown scheme (the
sample's ``1.2.3``) are ignored. DTDs and entities are refused as with every external XML
(:func:`engine.formats.cda.safe_xml.parse_xml`).

This is a private reader: ``engine.formats.xds`` has no ebRIM parser yet. It reads what an
XDM consumer needs, not the whole model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from engine.errors import DocumentError
from engine.formats.cda.safe_xml import parse_xml
from engine.formats.xdm.archive import XdmError
from engine.formats.xds import constants as c

MAX_METADATA_BYTES = 10 * 1024 * 1024
SIGNATURE_CLASS = "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1"
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
_NAMESPACE: Any = etree.ErrorDomains.NAMESPACE
_UNDEFINED_PREFIX: Any = etree.ErrorTypes.NS_ERR_UNDEFINED_NAMESPACE


@dataclass(frozen=True, slots=True)
class EntryMetadata:
    """One ``ExtrinsicObject`` (DocumentEntry) as written in METADATA.XML."""

    id: str
    uri: str
    unique_id: str
    mime_type: str
    patient_id: str
    hash: str
    size: int | None
    title: str
    type_code: str
    class_code: str
    format_code: str
    is_signature: bool


@dataclass(frozen=True, slots=True)
class SubmissionMetadata:
    """The submission set and its entries."""

    unique_id: str
    source_id: str
    patient_id: str
    entries: tuple[EntryMetadata, ...]


def _local(node: etree._Element) -> str:
    tag = node.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _children(node: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in node if _local(child) == name]


def _all(node: etree._Element, name: str) -> list[etree._Element]:
    return [n for n in node.iter() if _local(n) == name]


def _slot(node: etree._Element, name: str) -> list[str]:
    for slot in _children(node, "Slot"):
        if slot.get("name") == name:
            return [(v.text or "").strip() for v in _all(slot, "Value")]
    return []


def _first(values: list[str]) -> str:
    return values[0] if values else ""


def _external(node: etree._Element, scheme: str) -> str:
    for ext in _children(node, "ExternalIdentifier"):
        if ext.get("identificationScheme") == scheme:
            return (ext.get("value") or "").strip()
    return ""


def _code(node: etree._Element, scheme: str) -> str:
    for cls in _children(node, "Classification"):
        if cls.get("classificationScheme") == scheme:
            return (cls.get("nodeRepresentation") or "").strip()
    return ""


def _title(node: etree._Element) -> str:
    for name in _children(node, "Name"):
        for string in _all(name, "LocalizedString"):
            return (string.get("value") or "").strip()
    return ""


def _namespace_error(exc: DocumentError) -> bool:
    cause = exc.__cause__  # the XMLSyntaxError; its ``code`` is not in lxml-stubs
    return (
        isinstance(cause, etree.XMLSyntaxError)
        and getattr(cause, "code", None) == _UNDEFINED_PREFIX
    )


def parse_tolerant(raw: bytes) -> etree._Element:
    """Parse ``raw`` safely; undeclared namespace prefixes are tolerated.

    Raises:
        XdmError: kind ``metadata`` (malformed, oversize, DTD/entities).
    """
    try:
        return parse_xml(raw, max_bytes=MAX_METADATA_BYTES)
    except DocumentError as exc:
        if not _namespace_error(exc):
            raise XdmError(f"METADATA.XML is unusable: {exc}", kind="metadata") from exc
    parser = etree.XMLParser(
        recover=True, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:  # pragma: no cover - recover mode rarely raises
        raise XdmError("METADATA.XML is not well-formed XML", kind="metadata") from exc
    log: Any = parser.error_log  # recovery is only for undeclared prefixes
    if root is None or any(entry.domain != _NAMESPACE for entry in log):
        raise XdmError("METADATA.XML is not well-formed XML", kind="metadata")
    return root


def _size(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def read_metadata(raw: bytes) -> SubmissionMetadata:
    """The submission set and document entries of a METADATA.XML.

    Raises:
        XdmError: kind ``metadata``: unparseable, not a SubmitObjectsRequest, or without
            any ExtrinsicObject.
    """
    root = parse_tolerant(raw)
    if _local(root) != "SubmitObjectsRequest":
        raise XdmError(
            f"METADATA.XML root is {_local(root) or 'unknown'}, not SubmitObjectsRequest",
            kind="metadata",
        )
    signers = {
        a.get("sourceObject", "")
        for a in _all(root, "Association")
        if a.get("associationType") == SIGNS
    }
    entries = []
    for node in _all(root, "ExtrinsicObject"):
        object_id = node.get("id", "")
        class_code = _code(node, c.DE_CLASS)
        entries.append(
            EntryMetadata(
                id=object_id,
                uri=_first(_slot(node, "URI")),
                unique_id=_external(node, c.DE_UNIQUE_ID),
                mime_type=(node.get("mimeType") or "").strip(),
                patient_id=_external(node, c.DE_PATIENT_ID),
                hash=_first(_slot(node, "hash")).lower(),
                size=_size(_first(_slot(node, "size"))),
                title=_title(node),
                type_code=_code(node, c.DE_TYPE),
                class_code=class_code,
                format_code=_code(node, c.DE_FORMAT),
                is_signature=class_code == SIGNATURE_CLASS or object_id in signers,
            )
        )
    if not entries:
        raise XdmError("METADATA.XML lists no document (ExtrinsicObject)", kind="metadata")
    package = next(iter(_all(root, "RegistryPackage")), None)
    return SubmissionMetadata(
        unique_id=_external(package, c.SS_UNIQUE_ID) if package is not None else "",
        source_id=_external(package, c.SS_SOURCE_ID) if package is not None else "",
        patient_id=_external(package, c.SS_PATIENT_ID) if package is not None else "",
        entries=tuple(entries),
    )


__all__ = [
    "SIGNATURE_CLASS",
    "EntryMetadata",
    "SubmissionMetadata",
    "parse_tolerant",
    "read_metadata",
]
