"""CDA header → XDS.b metadata for the DMP (DocumentEntry and SubmissionSet).

What the document says is mapped by the Carte map ``mappings/cda_to_xds_metadata.yaml``
(compiled once per process), every code being looked up in the ``mappings/tables/xds_*.yaml``
tables (see :mod:`engine.formats.xds.tables`); nothing is hard-coded here. Sources, per the
ANS volet mapping (IGTDC ``mapping.md``) and the notes §5.4:

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

This module adds what the document does not carry: entryUUID, hash, size, mimeType, the
configured defaults, the masking codes and the SubmissionSet.
All problems of a document are reported together in one :class:`MappingError`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.errors import MappingError
from engine.formats.cda.model import CdaDocument
from engine.formats.xds import tables as t
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
from engine.mapping import CompiledMap, compile_map

MAP_FILE = "cda_to_xds_metadata.yaml"
DEFAULT_MAPPINGS_DIR = Path(__file__).resolve().parents[3] / "mappings"
#: The order in which problems are reported (that of the XDS metadata, as before the map).
_ORDER = (
    "uniqueId",
    "patientId",
    "typeCode",
    "classCode",
    "formatCode",
    "healthcareFacilityTypeCode",
    "practiceSettingCode",
    "confidentialityCode",
    "extraConfidentiality",
    "creationTime",
    "serviceStartTime",
    "serviceStopTime",
)
_maps: dict[Path, CompiledMap] = {}
_maps_lock = threading.Lock()


def metadata_map(mappings_dir: str | Path | None = None) -> CompiledMap:
    """The compiled ``cda_to_xds_metadata`` map of ``mappings_dir`` (tables in its ``tables/``).

    ``mappings_dir`` defaults to the project's ``mappings/``. Compiled once per directory.

    Raises:
        ConfigError: the map or one of its tables is missing or invalid.
    """
    directory = Path(mappings_dir) if mappings_dir is not None else DEFAULT_MAPPINGS_DIR
    path = (directory / MAP_FILE).resolve()
    with _maps_lock:
        compiled = _maps.get(path)
        if compiled is None:
            compiled = compile_map(path, tables=path.parent / "tables")
            _maps[path] = compiled
        return compiled


@dataclass(frozen=True, slots=True)
class SubmissionSettings:
    """What the sender configures (not found in the documents).

    Attributes:
        source_id: OID of the submitting system (``XDSSubmissionSet.sourceId``).
        content_type: key of ``xds_content_type_codes.yaml`` (SubmissionSet contentTypeCode).
        author: SubmissionSet author; the first document author when None. With
            ``structure_id``, its institution is the structure's (from the documents).
        default_facility_type: healthcareFacilityTypeCode key when the CDA has none.
        default_practice_setting: practiceSettingCode key when the CDA has none.
        structure_id: the VIHF ``Identifiant_Structure`` (indirect authentication): every
            document must have an author whose authorInstitution is this structure
            (:class:`StructureMismatch` otherwise), and the SubmissionSet author is it.
    """

    source_id: str
    content_type: str
    author: Author | None = None
    default_facility_type: str | None = None
    default_practice_setting: str | None = None
    structure_id: str | None = None


STRUCTURE_OID = "1.2.250.1.71.4.2.2"
"""Assigning authority of the national structure ids (IdNat_Struct) in an XON."""


class StructureMismatch(MappingError):
    """Documents (1-based positions in ``documents``) none of whose authors belongs to the
    configured structure. The message names no value, only positions and settings."""

    def __init__(self, documents: list[int]) -> None:
        listed = ", ".join(str(n) for n in documents)
        super().__init__(
            f"document(s) {listed}: no author's authorInstitution is the structure of the "
            "VIHF (vihf.structure_id, Identifiant_Structure)"
        )
        self.documents = documents


def structure_institution(entry: DocumentEntry, structure_id: str) -> str | None:
    """The first authorInstitution (XON) of ``entry`` whose national id is ``structure_id``."""
    for author in entry.authors:
        for xon in author.institutions:
            parts = xon.split("^")
            authority = parts[5].split("&") if len(parts) > 5 else []
            if len(parts) > 9 and parts[9] == structure_id and STRUCTURE_OID in authority:
                return xon
    return None


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A CDA to submit, the uniqueId it replaces (RPLC), extra confidentiality codes, and
    the registry's entryUUID of the replaced entry when known (ITI-18); without it the
    entryUUID Passerelle gives that uniqueId is used."""

    cda: CdaDocument
    replaces: str | None = None
    extra_confidentiality: tuple[str, ...] = field(default=())
    replaces_entry: str | None = None


def _coded(value: Any) -> CodedValue | None:
    if not isinstance(value, Mapping):
        return None
    return CodedValue(str(value["code"]), str(value["system"]), str(value.get("display", "")))


def _configured(
    tables: XdsTables, table: str, key: str | None, what: str, problems: dict[str, str]
) -> CodedValue | None:
    """The configured default for a code the document lacks, else a problem."""
    entry = tables.get(table, key) if key else None
    if entry is None:
        problems[what] = f"{what}: missing in the document"
    return entry


def _metadata(doc: CdaDocument, mappings_dir: str | Path | None) -> dict[str, Any]:
    if doc.element is None:
        raise MappingError("XDS metadata: the CDA document was not read from XML")
    output = metadata_map(mappings_dir).apply(doc.element)
    if not isinstance(output, dict):
        raise MappingError("XDS metadata: the metadata map gave no object")
    return output


def document_entry(
    prepared: PreparedDocument,
    tables: XdsTables,
    settings: SubmissionSettings | None = None,
    *,
    mappings_dir: str | Path | None = None,
) -> DocumentEntry:
    """The DocumentEntry of one CDA. Raises MappingError listing every problem found.

    The document's metadata come from ``<mappings_dir>/cda_to_xds_metadata.yaml``; without
    ``mappings_dir``, the map beside ``tables`` (``<tables>/../``) when there is one, else the
    project's ``mappings/``. ``tables`` gives the configured defaults and the masking codes.
    """
    doc = prepared.cda
    if mappings_dir is None and (tables.directory.parent / MAP_FILE).is_file():
        mappings_dir = tables.directory.parent  # the map beside its tables (tables_dir: …)
    try:
        meta = _metadata(doc, mappings_dir)
    except MappingError as exc:  # a failing rule of the map (MapRuntimeError): no values
        text = str(exc)
        message = text if text.startswith("XDS metadata") else f"XDS metadata: {text}"
        raise MappingError(message) from exc
    found = meta.get("problems") or {}
    problems: dict[str, str] = {k: str(v) for k, v in found.items() if v}
    facility = _coded(meta.get("healthcareFacilityTypeCode"))
    if facility is None and "healthcareFacilityTypeCode" not in problems:
        key = settings.default_facility_type if settings else None
        facility = _configured(
            tables, t.FACILITY_TYPES, key, "healthcareFacilityTypeCode", problems
        )
    setting = _coded(meta.get("practiceSettingCode"))
    if setting is None and "practiceSettingCode" not in problems:
        key = settings.default_practice_setting if settings else None
        setting = _configured(tables, t.PRACTICE_SETTINGS, key, "practiceSettingCode", problems)
    confidentiality = [c for c in map(_coded, meta.get("confidentialityCode") or []) if c]
    unknown = []
    for extra in prepared.extra_confidentiality:
        entry = tables.get(t.CONFIDENTIALITY, extra)
        if entry is None:
            unknown.append(
                f"confidentialityCode: {extra!r} is not in xds_confidentiality_codes.yaml"
            )
        else:
            confidentiality.append(entry)
    if unknown:
        problems["extraConfidentiality"] = "; ".join(unknown)
    if problems:
        listed = [problems[k] for k in _ORDER if k in problems]
        listed += [v for k, v in problems.items() if k not in _ORDER]
        raise MappingError("XDS metadata: " + "; ".join(listed))
    type_code, class_code = _coded(meta.get("typeCode")), _coded(meta.get("classCode"))
    format_code = _coded(meta.get("formatCode"))
    assert type_code and class_code and format_code and facility and setting
    unique_id = str(meta["uniqueId"])
    return DocumentEntry(
        entry_uuid=entry_uuid_for(unique_id),
        unique_id=unique_id,
        patient_id=str(meta["patientId"]),
        source_patient_id=str(meta["sourcePatientId"]),
        source_patient_info=tuple(str(i) for i in meta.get("sourcePatientInfo") or ()),
        class_code=class_code,
        type_code=type_code,
        format_code=format_code,
        healthcare_facility_type=facility,
        practice_setting=setting,
        confidentiality=tuple(confidentiality),
        mime_type=doc.mime_type,
        hash=sha1_hex(doc.raw),
        size=len(doc.raw),
        creation_time=str(meta.get("creationTime", "")),
        language=str(meta.get("languageCode", "")),
        title=str(meta.get("title", "")),
        authors=tuple(
            Author(
                person=str(a.get("person", "")),
                institutions=tuple(str(i) for i in a.get("institutions") or ()),
                roles=tuple(str(r) for r in a.get("roles") or ()),
                specialties=tuple(str(s) for s in a.get("specialties") or ()),
            )
            for a in meta.get("authors") or ()
        ),
        legal_authenticator=str(meta.get("legalAuthenticator", "")),
        service_start_time=str(meta.get("serviceStartTime", "")),
        service_stop_time=str(meta.get("serviceStopTime", "")),
        event_codes=tuple(c for c in map(_coded, meta.get("eventCodeList") or []) if c),
    )


def build_submission(
    documents: Sequence[PreparedDocument],
    settings: SubmissionSettings,
    tables: XdsTables,
    *,
    key: str,
    now: datetime | None = None,
    mappings_dir: str | Path | None = None,
) -> Submission:
    """One SubmissionSet holding every document (HasMember), with RPLC where asked.

    ``mappings_dir`` holds the metadata map (see :func:`document_entry`). ``key`` identifies
    the submission (e.g. the delivery's dedupe key): the set's entryUUID
    and uniqueId derive from it, so a redelivery sends the very same identifiers.

    Raises:
        MappingError: a document cannot be described, or the documents are not all for
            the same patient, or the content type is not in the table.
    """
    if not documents:
        raise MappingError("XDS metadata: nothing to submit")
    entries = [document_entry(d, tables, settings, mappings_dir=mappings_dir) for d in documents]
    if len({e.patient_id for e in entries}) > 1:
        raise MappingError("XDS metadata: the documents are not all for the same patient")
    content_type = tables.get(t.CONTENT_TYPES, settings.content_type)
    if content_type is None:
        raise MappingError(
            f"XDS metadata: contentTypeCode {settings.content_type!r} is not in "
            "xds_content_type_codes.yaml"
        )
    author = settings.author or next((a for e in entries for a in e.authors), Author())
    if settings.structure_id is not None:
        found = [structure_institution(e, settings.structure_id) for e in entries]
        missing = [n for n, xon in enumerate(found, start=1) if xon is None]
        if missing:
            raise StructureMismatch(missing)
        person = settings.author.person if settings.author else ""
        author = Author(person=person, institutions=(str(found[0]),))
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
            (
                entry,
                d.cda.raw,
                d.replaces_entry or (entry_uuid_for(d.replaces) if d.replaces else None),
            )
            for entry, d in zip(entries, documents, strict=True)
        ],
    )


__all__ = [
    "DEFAULT_MAPPINGS_DIR",
    "MAP_FILE",
    "STRUCTURE_OID",
    "PreparedDocument",
    "StructureMismatch",
    "SubmissionSettings",
    "build_submission",
    "document_entry",
    "metadata_map",
    "structure_institution",
]
