"""CDA header → XDS metadata, every code from the tables; ebRIM serialisation XSD-valid."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree

from engine.errors import MappingError
from engine.formats.cda import read_cda, validate
from engine.formats.xds import (
    PreparedDocument,
    SubmissionSettings,
    build_submission,
    document_entry,
    entry_uuid_for,
    load_tables,
    provide_and_register,
    sha1_hex,
)
from engine.formats.xds import constants as c
from tests.engine.formats.cda.builders import ANS_EXAMPLES, NO_CORPUS, TEST_INS, XDS_XSD, cda

TABLES = load_tables()
SETTINGS = SubmissionSettings(source_id="1.2.250.1.999.1", content_type="07")
NOW = datetime(2024, 1, 5, 9, 30, tzinfo=UTC)


def entry_for(raw: bytes, **kwargs: object):  # type: ignore[no-untyped-def]
    return document_entry(PreparedDocument(read_cda(raw), **kwargs), TABLES, SETTINGS)  # type: ignore[arg-type]


def test_document_entry_of_a_lab_report() -> None:
    raw = cda()
    e = entry_for(raw)
    assert e.unique_id == "1.2.250.1.999.7.1" and e.entry_uuid == entry_uuid_for(e.unique_id)
    assert e.patient_id == f"{TEST_INS}^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert e.source_patient_id == "IPP0001^^^&1.2.250.1.999.2&ISO^PI"
    assert e.source_patient_info == (
        "PID-3|IPP0001^^^&1.2.250.1.999.2&ISO^PI",
        "PID-5|TESTPATIENT^ALPHA^^^^^L",
        "PID-7|19790328",
        "PID-8|F",
        "PID-11|^^^^^^BDL^^51215",
    )
    assert (e.class_code.code, e.class_code.scheme) == ("10", "1.2.250.1.213.1.1.4.1")
    assert (e.type_code.code, e.type_code.scheme) == ("11502-2", "2.16.840.1.113883.6.1")
    assert e.format_code.code == "urn:ihe:lab:xd-lab:2008"
    assert (e.healthcare_facility_type.code, e.practice_setting.code) == ("SA25", "AMBULATOIRE")
    assert [x.code for x in e.confidentiality] == ["N"]
    assert (e.hash, e.size, e.mime_type) == (sha1_hex(raw), len(raw), "text/xml")
    assert (e.creation_time, e.service_start_time, e.service_stop_time) == (
        "20240104150527",
        "20240104070000",
        "20240104150000",
    )
    (author,) = e.authors
    assert author.person == "801234534765^AUTEUR^Paul^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    assert author.institutions == ("Labo test^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1120459876",)
    assert author.specialties == ("G15_10/SM03^Biologie médicale^1.2.250.1.213.1.1.4.5",)
    assert e.legal_authenticator.startswith("801234534765^AUTEUR^Paul")


def test_level_1_takes_the_xds_sd_format_and_masking_codes_are_added() -> None:
    e = entry_for(cda(level=1), extra_confidentiality=("MASQUE_PS",))
    assert e.format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"
    assert [x.code for x in e.confidentiality] == ["N", "MASQUE_PS"]


def test_every_problem_is_reported_at_once() -> None:
    raw = cda(ins=None, type_code="99999-9", facility="ZZ99")
    with pytest.raises(MappingError) as caught:
        entry_for(raw)
    text = str(caught.value)
    for part in ("patientId", "typeCode", "classCode", "healthcareFacilityTypeCode"):
        assert part in text
    assert TEST_INS not in text


def test_defaults_fill_what_the_document_lacks() -> None:
    raw = cda().replace(b'<code code="SA25" codeSystem="1.2.250.1.71.4.2.4"/>', b"")
    settings = SubmissionSettings("1.2.3", "07", default_facility_type="SA01")
    e = document_entry(PreparedDocument(read_cda(raw)), TABLES, settings)
    assert e.healthcare_facility_type.code == "SA01"


def test_submission_with_replacement_and_stable_ids() -> None:
    v2 = read_cda(cda(doc_id="1.2.250.1.999.7.2", version=2, replaces="1.2.250.1.999.7.1"))
    prepared = [PreparedDocument(v2, "1.2.250.1.999.7.1")]
    sub = build_submission(prepared, SETTINGS, TABLES, key="K1", now=NOW)
    again = build_submission(prepared, SETTINGS, TABLES, key="K1", now=NOW)
    assert sub == again  # a redelivery sends the same identifiers
    s = sub.submission_set
    assert s.unique_id.startswith("2.25.") and len(s.unique_id) <= 64
    assert (s.submission_time, s.content_type.code, s.source_id) == (
        "20240105093000",
        "07",
        "1.2.250.1.999.1",
    )
    kinds = [(a.type, a.source, a.target) for a in sub.associations]
    (entry,) = sub.entries
    assert kinds == [
        (c.HAS_MEMBER, s.entry_uuid, entry.entry_uuid),
        (c.RPLC, entry.entry_uuid, entry_uuid_for("1.2.250.1.999.7.1")),
    ]
    assert sub.documents[entry.entry_uuid] == v2.raw


def test_documents_of_different_patients_are_refused() -> None:
    a = PreparedDocument(read_cda(cda()))
    b = PreparedDocument(read_cda(cda(doc_id="1.2.250.1.999.7.9", ins="277076322082910")))
    with pytest.raises(MappingError, match="same patient"):
        build_submission([a, b], SETTINGS, TABLES, key="K")
    with pytest.raises(MappingError, match="contentTypeCode"):
        build_submission([a], SubmissionSettings("1.2.3", "XX"), TABLES, key="K")


@pytest.mark.skipif(not XDS_XSD.is_file(), reason=NO_CORPUS)
@pytest.mark.parametrize("xop", [True, False])
def test_request_is_valid_against_the_xds_schema(xop: bool) -> None:
    docs = [
        PreparedDocument(read_cda(cda())),
        PreparedDocument(
            read_cda(
                cda(doc_id="1.2.250.1.999.8.2", version=2, replaces="1.2.250.1.999.8.1", level=1)
            ),
            "1.2.250.1.999.8.1",
        ),
    ]
    request, attachments = provide_and_register(
        build_submission(docs, SETTINGS, TABLES, key="K2", now=NOW), xop=xop
    )
    includes = request.findall(f".//{{{c.XOP}}}Include")
    assert len(includes) == len(attachments) == (2 if xop else 0)
    if xop:  # as the repository does: replace each include by the Base64 content
        for include in includes:
            parent = include.getparent()
            assert parent is not None
            parent.remove(include)
            parent.text = "AAAA"
    assert validate(etree.fromstring(etree.tostring(request)), XDS_XSD) == []


@pytest.mark.skipif(not ANS_EXAMPLES.is_dir(), reason=NO_CORPUS)
@pytest.mark.parametrize(
    ("name", "class_code", "format_code", "facility", "setting"),
    [
        ("LDL-SES_2022.01.xml", "10", "urn:asip:ci-sis:ldl-ses:2017", "SA01", "ETABLISSEMENT"),
        ("BIO-CR-BIO_2024.01_TSH_1.xml", "10", "urn:ihe:lab:xd-lab:2008", "SA25", "AMBULATOIRE"),
        ("DOC_NON_STRUCTURE_CDA-R2-N1.xml", "10", "urn:ihe:iti:xds-sd:pdf:2008", None, None),
    ],
)
def test_ans_examples(
    name: str, class_code: str, format_code: str, facility: str | None, setting: str | None
) -> None:
    e = entry_for((ANS_EXAMPLES / name).read_bytes())
    assert (e.class_code.code, e.format_code.code) == (class_code, format_code)
    if facility:
        assert (e.healthcare_facility_type.code, e.practice_setting.code) == (facility, setting)
