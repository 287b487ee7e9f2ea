"""CDA header → XDS.b metadata for the DMP (DocumentEntry and SubmissionSet).

Every code is looked up in the ``mappings/tables/xds_*.yaml`` tables (see
:mod:`engine.formats.xds.tables`); nothing is hard-coded here. Sources, per the ANS volet
mapping (IGTDC ``mapping.md``) and the notes §5.4:

==========================  ===============================================================
classCode                   table ``class_by_type`` on the CDA ``code``
typeCode                    CDA ``code`` (must be in ``type_codes``)
formatCode                  level 1 → XDS-SD; else table ``format_by_template`` on templateId
healthcareFacilityTypeCode  ``encompassingEncounter/location/healthCareFacility/code``
practiceSettingCode         ``serviceEvent/performer/…/standardIndustryClassCode`` (else the
                            legal authenticator's organisation), else the configured default
confidentialityCode         CDA ``confidentialityCode`` + masking codes (HL7 ``MetaDMPMSS``)
patientId                   the INS in CX form ``<ins>^^^&<oid>&ISO^NH``
==========================  ===============================================================

All problems of a document are reported together in one :class:`MappingError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from engine.errors import MappingError
from engine.formats.cda.model import CdaDocument, Code, Level
from engine.formats.cda.rules import XDS_SD
from engine.formats.xds import tables as t
from engine.formats.xds.datatypes import ce, cx, utc_dtm, xcn, xon
from engine.formats.xds.model import (
    Author,
    CodedValue,
    DocumentEntry,
    Submission,
    SubmissionSet,
    assemble,
    derived_uuid,
    entry_uuid_for,
    oid_for,
    sha1_hex,
)
from engine.formats.xds.tables import XdsTables


@dataclass(frozen=True, slots=True)
class SubmissionSettings:
    """What the sender configures (not found in the documents).

    Attributes:
        source_id: OID of the submitting system (``XDSSubmissionSet.sourceId``).
        content_type: key of ``xds_content_type_codes.yaml`` (SubmissionSet contentTypeCode).
        author: SubmissionSet author; the first document author when None.
        default_facility_type: healthcareFacilityTypeCode key when the CDA has none.
        default_practice_setting: practiceSettingCode key when the CDA has none.
    """

    source_id: str
    content_type: str
    author: Author | None = None
    default_facility_type: str | None = None
    default_practice_setting: str | None = None


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A CDA to submit, the uniqueId it replaces (RPLC) and extra confidentiality codes."""

    cda: CdaDocument
    replaces: str | None = None
    extra_confidentiality: tuple[str, ...] = field(default=())


class _Problems(list[str]):
    def coded(
        self, tables: XdsTables, table: str, code: Code | None, what: str
    ) -> CodedValue | None:
        if code is None:
            self.append(f"{what}: missing in the document")
            return None
        entry = tables.get(table, code.code)
        if entry is None or entry.scheme != code.system:
            self.append(
                f"{what}: code {code.code!r} of system {code.system or '?'} is not in "
                f"xds_{table}.yaml"
            )
            return None
        return entry


def _format_code(doc: CdaDocument, tables: XdsTables, problems: _Problems) -> CodedValue | None:
    roots = [XDS_SD] if doc.level is Level.UNSTRUCTURED else []
    roots += [tid.root for tid in doc.header.template_ids]
    for root in roots:
        entry = tables.get(t.FORMAT_BY_TEMPLATE, root)
        if entry is not None:
            return entry
    problems.append("formatCode: no templateId of the document is in xds_format_by_template.yaml")
    return None


def _authors(doc: CdaDocument) -> tuple[Author, ...]:
    return tuple(
        Author(
            person=xcn(a),
            institutions=(xon(a.organization),) if a.organization else (),
            specialties=(ce(a.code),) if a.code else (),
        )
        for a in doc.header.authors
    )


def _times(value: str, what: str, problems: _Problems) -> str:
    try:
        return utc_dtm(value)
    except ValueError:
        problems.append(f"{what}: not an HL7 time")
        return ""


def _default(tables: XdsTables, table: str, key: str | None) -> Code | None:
    entry = tables.get(table, key) if key else None
    return Code(entry.code, entry.scheme, entry.display) if entry else None


def document_entry(
    prepared: PreparedDocument, tables: XdsTables, settings: SubmissionSettings | None = None
) -> DocumentEntry:
    """The DocumentEntry of one CDA. Raises MappingError listing every problem found."""
    doc, h, problems = prepared.cda, prepared.cda.header, _Problems()
    patient, ins = h.patient, h.patient.ins if h.patient else None
    if h.id is None:
        problems.append("uniqueId: the document has no id")
    if ins is None:
        problems.append("patientId: the document carries no INS")
    type_code = problems.coded(tables, t.TYPE_CODES, h.code, "typeCode")
    class_code = tables.get(t.CLASS_BY_TYPE, h.code.code) if h.code else None
    if h.code is not None and class_code is None:
        problems.append(f"classCode: type {h.code.code!r} is not in xds_class_by_type.yaml")
    format_code = _format_code(doc, tables, problems)
    facility = h.encounter.facility_type if h.encounter else None
    setting = next((s.practice_setting for s in h.service_events if s.practice_setting), None)
    if setting is None and h.legal_authenticator and h.legal_authenticator.organization:
        setting = h.legal_authenticator.organization.industry_code
    if facility is None and settings is not None:
        facility = _default(tables, t.FACILITY_TYPES, settings.default_facility_type)
    if setting is None and settings is not None:
        setting = _default(tables, t.PRACTICE_SETTINGS, settings.default_practice_setting)
    facility_code = problems.coded(tables, t.FACILITY_TYPES, facility, "healthcareFacilityTypeCode")
    setting_code = problems.coded(tables, t.PRACTICE_SETTINGS, setting, "practiceSettingCode")
    confidentiality = [
        problems.coded(tables, t.CONFIDENTIALITY, h.confidentiality, "confidentialityCode")
    ]
    for extra in prepared.extra_confidentiality:
        entry = tables.get(t.CONFIDENTIALITY, extra)
        confidentiality.append(entry)
        if entry is None:
            problems.append(
                f"confidentialityCode: {extra!r} is not in xds_confidentiality_codes.yaml"
            )
    event = h.service_events[0] if h.service_events else None
    creation = _times(h.effective_time, "creationTime", problems)
    start = _times(event.low if event else "", "serviceStartTime", problems)
    stop = _times(event.high if event else "", "serviceStopTime", problems)
    if problems:
        raise MappingError("XDS metadata: " + "; ".join(problems))
    assert h.id and ins and patient and type_code and class_code and format_code
    assert facility_code and setting_code
    local = patient.local_ids
    source_patient_id = cx(local[0], "PI") if local else ins.cx
    name = patient.name
    info = (
        f"PID-3|{source_patient_id}",
        f"PID-5|{name.birth_family}^{name.first_given}^^^^^L",
        f"PID-7|{patient.birth_time[:8]}",
        f"PID-8|{patient.gender}",
        f"PID-11|^^^^^^BDL^^{patient.birthplace_code}" if patient.birthplace_code else "",
    )
    legal = xcn(h.legal_authenticator) if h.legal_authenticator else ""
    return DocumentEntry(
        entry_uuid=entry_uuid_for(h.id.unique_id),
        unique_id=h.id.unique_id,
        patient_id=ins.cx,
        source_patient_id=source_patient_id,
        source_patient_info=tuple(i for i in info if i and not i.endswith("|")),
        class_code=class_code,
        type_code=type_code,
        format_code=format_code,
        healthcare_facility_type=facility_code,
        practice_setting=setting_code,
        confidentiality=tuple(c for c in confidentiality if c is not None),
        mime_type=doc.mime_type,
        hash=sha1_hex(doc.raw),
        size=len(doc.raw),
        creation_time=creation,
        language=h.language or "fr-FR",
        title=h.title,
        authors=_authors(doc),
        legal_authenticator=legal,
        service_start_time=start,
        service_stop_time=stop,
    )


def build_submission(
    documents: Sequence[PreparedDocument],
    settings: SubmissionSettings,
    tables: XdsTables,
    *,
    key: str,
    now: datetime | None = None,
) -> Submission:
    """One SubmissionSet holding every document (HasMember), with RPLC where asked.

    ``key`` identifies the submission (e.g. the delivery's dedupe key): the set's entryUUID
    and uniqueId derive from it, so a redelivery sends the very same identifiers.

    Raises:
        MappingError: a document cannot be described, or the documents are not all for
            the same patient, or the content type is not in the table.
    """
    if not documents:
        raise MappingError("XDS metadata: nothing to submit")
    entries = [document_entry(d, tables, settings) for d in documents]
    if len({e.patient_id for e in entries}) > 1:
        raise MappingError("XDS metadata: the documents are not all for the same patient")
    content_type = tables.get(t.CONTENT_TYPES, settings.content_type)
    if content_type is None:
        raise MappingError(
            f"XDS metadata: contentTypeCode {settings.content_type!r} is not in "
            "xds_content_type_codes.yaml"
        )
    author = settings.author or next((a for e in entries for a in e.authors), Author())
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    submission_set = SubmissionSet(
        entry_uuid=derived_uuid("submissionset", key),
        unique_id=oid_for("submissionset", key),
        source_id=settings.source_id,
        patient_id=entries[0].patient_id,
        submission_time=moment.strftime("%Y%m%d%H%M%S"),
        content_type=content_type,
        authors=(author,),
    )
    return assemble(
        submission_set,
        [
            (entry, d.cda.raw, entry_uuid_for(d.replaces) if d.replaces else None)
            for entry, d in zip(entries, documents, strict=True)
        ],
    )


__all__ = ["PreparedDocument", "SubmissionSettings", "build_submission", "document_entry"]
