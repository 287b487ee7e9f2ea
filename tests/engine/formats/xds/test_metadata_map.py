"""The map ``mappings/cda_to_xds_metadata.yaml`` against the Python it replaced.

``_legacy_document_entry`` is a frozen copy of ``document_entry`` as it was before the
metadata moved to the map (kept here only, as the reference): for every ANS CDA example,
and for the synthetic documents of the builders, the map-based ``document_entry`` must give
the very same DocumentEntry, or the very same MappingError message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import DocumentError, MappingError
from engine.formats.cda import read_cda
from engine.formats.cda.model import CdaDocument, Code, Level
from engine.formats.cda.rules import XDS_SD
from engine.formats.xds import tables as t
from engine.formats.xds.datatypes import ce, cx, utc_dtm, xcn, xon
from engine.formats.xds.from_cda import (
    PreparedDocument,
    SubmissionSettings,
    document_entry,
    metadata_map,
)
from engine.formats.xds.model import Author, CodedValue, DocumentEntry, entry_uuid_for, sha1_hex
from engine.formats.xds.tables import XdsTables, load_tables
from tests.engine.formats.cda.builders import ANS_EXAMPLES, NO_CORPUS, cda

TABLES = load_tables()
PLAIN = SubmissionSettings("1.2.250.1.999.1", "07")
DEFAULTS = SubmissionSettings(
    "1.2.250.1.999.1", "07", default_facility_type="SA01", default_practice_setting="ETABLISSEMENT"
)


# --- frozen copy of the former Python implementation (reference only) -------------------


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


def _legacy_document_entry(
    prepared: PreparedDocument, tables: XdsTables, settings: SubmissionSettings | None = None
) -> DocumentEntry:
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


# --- the comparison ----------------------------------------------------------------------


def _outcome(function: object, prepared: PreparedDocument, settings: SubmissionSettings) -> object:
    try:
        return function(prepared, TABLES, settings)  # type: ignore[operator]
    except MappingError as exc:
        return f"MappingError: {exc}"


def _assert_same(doc: CdaDocument, extra: tuple[str, ...] = ()) -> None:
    prepared = PreparedDocument(doc, extra_confidentiality=extra)
    for settings in (PLAIN, DEFAULTS):
        expected = _outcome(_legacy_document_entry, prepared, settings)
        assert _outcome(document_entry, prepared, settings) == expected
    # Field by field, also for documents refused for a code (most ANS examples have no
    # templateId in format_by_template): what the former header model gave.
    assert doc.element is not None
    assert _fields(metadata_map().apply(doc.element)) == _legacy_fields(doc)


def _time(value: str) -> str:
    try:
        return utc_dtm(value)
    except ValueError:
        return ""


def _legacy_fields(doc: CdaDocument) -> dict[str, object]:
    h = doc.header
    ins = h.patient.ins if h.patient else None
    event = h.service_events[0] if h.service_events else None
    fields: dict[str, object] = {
        "uniqueId": h.id.unique_id if h.id else "",
        "patientId": ins.cx if ins else "",
        "parentDocumentId": h.replaces.unique_id if h.replaces else "",
        "creationTime": _time(h.effective_time),
        "serviceStartTime": _time(event.low if event else ""),
        "serviceStopTime": _time(event.high if event else ""),
        "title": h.title,
        "languageCode": h.language or "fr-FR",
        "authors": [(a.person, a.institutions, a.specialties) for a in _authors(doc)],
        "legalAuthenticator": xcn(h.legal_authenticator) if h.legal_authenticator else "",
    }
    if h.patient is not None:
        local = h.patient.local_ids
        source = cx(local[0], "PI") if local else ins.cx if ins else ""
        name, patient = h.patient.name, h.patient
        info = (
            f"PID-3|{source}",
            f"PID-5|{name.birth_family}^{name.first_given}^^^^^L",
            f"PID-7|{patient.birth_time[:8]}",
            f"PID-8|{patient.gender}",
            f"PID-11|^^^^^^BDL^^{patient.birthplace_code}" if patient.birthplace_code else "",
        )
        fields["sourcePatientId"] = source
        fields["sourcePatientInfo"] = tuple(i for i in info if i and not i.endswith("|"))
    return fields


def _fields(output: dict[str, object]) -> dict[str, object]:
    keys = [
        "uniqueId",
        "patientId",
        "parentDocumentId",
        "creationTime",
        "serviceStartTime",
        "serviceStopTime",
        "title",
        "languageCode",
        "legalAuthenticator",
    ]
    fields: dict[str, object] = {k: output.get(k, "") for k in keys}
    authors = output.get("authors") or []
    assert isinstance(authors, list)
    fields["authors"] = [
        (
            a.get("person", ""),
            tuple(a.get("institutions") or ()),
            tuple(a.get("specialties") or ()),
        )
        for a in authors
    ]
    if "sourcePatientInfo" in output:
        fields["sourcePatientId"] = output.get("sourcePatientId", "")
        fields["sourcePatientInfo"] = tuple(output["sourcePatientInfo"])  # type: ignore[arg-type]
    return fields


def _examples() -> list[Path]:
    return sorted(ANS_EXAMPLES.glob("*.xml")) if ANS_EXAMPLES.is_dir() else []


@pytest.mark.skipif(not ANS_EXAMPLES.is_dir(), reason=NO_CORPUS)
@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.name)
def test_every_ans_example_gives_what_the_python_gave(path: Path) -> None:
    try:
        doc = read_cda(path.read_bytes())
    except DocumentError:
        pytest.skip("not a CDA document the DMP path reads")
    _assert_same(doc)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"level": 1},
        {"ins": None},
        {"type_code": "99999-9", "facility": "ZZ99"},
        {"doc_id": "1.2.250.1.999.7.2", "version": 2, "replaces": "1.2.250.1.999.7.1"},
    ],
)
def test_synthetic_documents_give_what_the_python_gave(kwargs: dict[str, object]) -> None:
    _assert_same(read_cda(cda(**kwargs)), ("MASQUE_PS",))  # type: ignore[arg-type]


def test_defaults_and_unknown_masking_codes_give_what_the_python_gave() -> None:
    raw = cda().replace(b'<code code="SA25" codeSystem="1.2.250.1.71.4.2.4"/>', b"")
    _assert_same(read_cda(raw), ("NOPE",))


@pytest.mark.parametrize(
    "value",
    [
        "20191203133000+0100",
        "201912031330-0230",
        "2019120313+0100",
        "20191203",
        "20191203133000",
        "20191203133000.123+0000",
        "20240101003000+0100",
        "",
    ],
)
def test_hl7_utc_converts_as_the_xds_datatypes_did(value: str) -> None:
    from engine.mapping.builtins_time import hl7_utc

    assert hl7_utc(value) == utc_dtm(value)
