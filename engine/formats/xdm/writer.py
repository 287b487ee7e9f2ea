"""``METADATA.XML`` for an outgoing XDM package, built from CDA headers.

The DocumentEntry and SubmissionSet come from :mod:`engine.formats.xds.model` and are
serialised by :func:`engine.formats.xds.ebrim.provide_and_register` (read-only use of the
XDS module); this module takes its ``SubmitObjectsRequest``, adds the XDM ``URI`` slot of
each entry, and drops classifications it has no code for (classCode, formatCode and the
content type are JDV codes that a mapping supplies; ``None`` means unknown).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lxml import etree

from engine.formats.cda import CdaDocument, Code, Identifier, Level, PersonName
from engine.formats.xds import constants as c
from engine.formats.xds.ebrim import provide_and_register
from engine.formats.xds.model import (
    Author,
    CodedValue,
    DocumentEntry,
    SubmissionSet,
    assemble,
    derived_uuid,
    entry_uuid_for,
    oid_for,
    sha1_hex,
)

PDF_FORMAT = CodedValue(
    "urn:ihe:iti:xds-sd:pdf:2008",
    "1.3.6.1.4.1.19376.1.2.3",
    "Document à corps non structuré en Pdf/A-1",
)
MIME_SUFFICIENT = CodedValue(
    "urn:ihe:iti:xds:2017:mimeTypeSufficient", "1.3.6.1.4.1.19376.1.2.3", "mimeType Sufficient"
)
_CODED_SCHEMES = {
    c.DE_CLASS,
    c.DE_FORMAT,
    c.DE_FACILITY,
    c.DE_PRACTICE,
    c.DE_TYPE,
    c.SS_CONTENT_TYPE,
}
_TS = re.compile(r"^(\d{4,14})(?:\.\d+)?(?:([+-])(\d{2})(\d{2}))?$")
_EMPTY = CodedValue("", "", "")
_RPPS_ROOT, _STRUCTURE_ROOT = "1.2.250.1.71.4.2.1", "1.2.250.1.71.4.2.2"


@dataclass(frozen=True, slots=True)
class EntryCodes:
    """Codes a mapping supplies for a document (None: not written)."""

    class_code: CodedValue | None = None
    format_code: CodedValue | None = None


def utc_ts(value: str) -> str:
    """An HL7 TS as XDS UTC ``YYYYMMDDhhmmss`` (shorter when less precise); "" if unreadable."""
    m = _TS.match(value.strip())
    if not m:
        return ""
    digits, sign, hours, minutes = m.groups()
    if not sign or len(digits) < 12:
        return digits
    local = datetime.strptime(digits.ljust(14, "0"), "%Y%m%d%H%M%S")
    offset = timedelta(hours=int(hours), minutes=int(minutes)) * (1 if sign == "+" else -1)
    return (local - offset).strftime("%Y%m%d%H%M%S")[: len(digits)]


def _xcn(ids: Sequence[Identifier], name: PersonName | None) -> str:
    ident = ids[0] if ids else Identifier("")
    family = name.family if name else ""
    given = name.given[0] if name and name.given else ""
    kind = "IDNPS" if ident.root == _RPPS_ROOT else ""
    authority = f"&{ident.root}&ISO" if ident.root else ""
    return f"{ident.extension}^{family}^{given}^^^^^^{authority}^D^^^{kind}".rstrip("^")


def _xon(name: str, ids: Sequence[Identifier]) -> str:
    ident = ids[0] if ids else Identifier("")
    kind = "IDNST" if ident.root == _STRUCTURE_ROOT else ""
    return f"{name}^^^^^&{ident.root}&ISO^{kind}^^^{ident.extension}" if ident.root else name


def _coded(code: Code | None) -> CodedValue:
    if code is not None and code.code:
        return CodedValue(code.code, code.system, code.display)
    return _EMPTY


def _patient_ids(doc: CdaDocument) -> tuple[str, str, tuple[str, ...]]:
    patient = doc.header.patient
    if patient is None:
        return "", "", ()
    local = patient.local_ids[0] if patient.local_ids else None
    local_cx = f"{local.extension}^^^&{local.root}&ISO^PI" if local else ""
    main = patient.ins.cx if patient.ins else local_cx
    n = patient.name
    info = (
        f"PID-5|{n.birth_family}^{n.first_given}^^^^^L",
        f"PID-7|{patient.birth_time[:8]}",
        f"PID-8|{patient.gender}",
    )
    return main, local_cx or main, info


def document_entry(doc: CdaDocument, codes: EntryCodes) -> DocumentEntry:
    """The DocumentEntry of a CDA (uniqueId = CDA id; entryUUID derived from it)."""
    h = doc.header
    unique_id = h.id.unique_id if h.id else oid_for("cda", sha1_hex(doc.raw))
    patient_id, source_patient_id, info = _patient_ids(doc)
    if doc.level is Level.UNSTRUCTURED and doc.body_media_type == "application/pdf":
        format_code = PDF_FORMAT
    else:
        format_code = codes.format_code or MIME_SUFFICIENT
    authors = tuple(
        Author(
            person=_xcn(a.ids, a.name),
            institutions=(_xon(a.organization.name, a.organization.ids),) if a.organization else (),
        )
        for a in h.authors
    )
    event = h.service_events[0] if h.service_events else None
    legal = h.legal_authenticator
    return DocumentEntry(
        entry_uuid=entry_uuid_for(unique_id),
        unique_id=unique_id,
        patient_id=patient_id,
        source_patient_id=source_patient_id,
        source_patient_info=info,
        class_code=codes.class_code or _EMPTY,
        type_code=_coded(h.code),
        format_code=format_code,
        healthcare_facility_type=_coded(h.encounter.facility_type if h.encounter else None),
        practice_setting=_coded(event.practice_setting if event else None),
        confidentiality=(_coded(h.confidentiality),) if h.confidentiality else (),
        mime_type=doc.mime_type,
        hash=sha1_hex(doc.raw),
        size=len(doc.raw),
        creation_time=utc_ts(h.effective_time),
        language=h.language or "fr-FR",
        title=h.title,
        authors=authors,
        legal_authenticator=_xcn(legal.ids, legal.name) if legal else "",
        service_start_time=utc_ts(event.low) if event else "",
        service_stop_time=utc_ts(event.high) if event else "",
    )


def metadata_xml(
    documents: Sequence[tuple[CdaDocument, str, EntryCodes]],
    *,
    source_id: str,
    submission_key: str,
    submitted_at: datetime | None = None,
    content_type: CodedValue | None = None,
) -> bytes:
    """METADATA.XML for ``(document, file name in the subset, codes)`` triples, the entries
    built here from the CDA headers (see :func:`metadata_for_entries`)."""
    return metadata_for_entries(
        [(document_entry(doc, codes), doc.raw, name) for doc, name, codes in documents],
        source_id=source_id,
        submission_key=submission_key,
        submitted_at=submitted_at,
        content_type=content_type,
    )


def metadata_for_entries(
    entries: Sequence[tuple[DocumentEntry, bytes, str]],
    *,
    source_id: str,
    submission_key: str,
    submitted_at: datetime | None = None,
    content_type: CodedValue | None = None,
    author: Author | None = None,
) -> bytes:
    """METADATA.XML for ``(DocumentEntry, content, file name in the subset)`` triples, e.g.
    entries described by the DMP metadata map (:func:`engine.formats.xds.document_entry`).

    ``submission_key`` makes the SubmissionSet uniqueId and entryUUID stable (the same key
    gives the same ids, e.g. on a resend). Classifications without a code are left out.
    """
    first = entries[0][0]
    when = (submitted_at or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d%H%M%S")
    submission_set = SubmissionSet(
        entry_uuid=derived_uuid("xdm-submission-set", submission_key),
        unique_id=oid_for("xdm-submission-set", submission_key),
        source_id=source_id,
        patient_id=first.patient_id,
        submission_time=when,
        content_type=content_type or _EMPTY,
        authors=(author,) if author is not None else first.authors[:1],
    )
    assembled = assemble(submission_set, [(entry, raw, None) for entry, raw, _ in entries])
    request, _ = provide_and_register(assembled, xop=True)
    sor = request.find(f"{{{c.LCM}}}SubmitObjectsRequest")
    assert sor is not None  # provide_and_register always writes it
    uris = {entry.entry_uuid: name for entry, _, name in entries}
    for node in sor.iter(f"{{{c.RIM}}}ExtrinsicObject"):
        _add_uri(node, uris[node.get("id", "")])
    for node in list(sor.iter(f"{{{c.RIM}}}Classification")):
        if node.get("classificationScheme") in _CODED_SCHEMES and not node.get(
            "nodeRepresentation"
        ):
            parent = node.getparent()
            if parent is not None:
                parent.remove(node)
    return etree.tostring(sor, xml_declaration=True, encoding="UTF-8")


def _add_uri(node: etree._Element, uri: str) -> None:
    slot = etree.Element(f"{{{c.RIM}}}Slot", name="URI")
    etree.SubElement(
        etree.SubElement(slot, f"{{{c.RIM}}}ValueList"), f"{{{c.RIM}}}Value"
    ).text = uri
    position = sum(1 for child in node if child.tag == f"{{{c.RIM}}}Slot")
    node.insert(position, slot)


__all__ = [
    "MIME_SUFFICIENT",
    "PDF_FORMAT",
    "EntryCodes",
    "document_entry",
    "metadata_for_entries",
    "metadata_xml",
    "utc_ts",
]
