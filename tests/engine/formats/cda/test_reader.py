"""Reading synthetic CDA documents: header, level, unwrapping, errors."""

from __future__ import annotations

import pytest

from engine.errors import DocumentError
from engine.formats.cda import (
    MIME_AUTOPRESENTABLE,
    CdaDocument,
    Identifier,
    InsKind,
    Level,
    embedded_body,
    nir_key,
    read_cda,
)
from engine.formats.cda.ins import key_valid, well_formed
from tests.engine.formats.cda.builders import PDF, TEST_INS, cda

WRAPPER = b"""<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:data="urn:asip-sante:ci-sis">
  <data:Contenu>%s</data:Contenu>
</xsl:stylesheet>"""


def test_header_of_a_level_3_document() -> None:
    doc = read_cda(cda())
    h = doc.header
    assert doc.level is Level.STRUCTURED and not doc.autopresentable
    assert doc.mime_type == "text/xml"
    assert h.id == Identifier("1.2.250.1.999.7.1")
    assert (h.set_id, h.version_number) == (Identifier("1.2.250.1.999.7"), 1)
    assert h.code is not None and h.code.code == "11502-2"
    assert h.code.system == "2.16.840.1.113883.6.1"
    assert (h.title, h.effective_time, h.language, h.realm) == (
        "Compte rendu de test",
        "20240104160527+0100",
        "fr-FR",
        "FR",
    )
    assert h.confidentiality is not None and h.confidentiality.code == "N"
    assert h.patient is not None and h.patient.ins is not None
    ins = h.patient.ins
    assert (ins.value, ins.kind, ins.well_formed, ins.key_ok) == (
        TEST_INS,
        InsKind.NIR_TEST,
        True,
        True,
    )
    assert h.patient.local_ids == (Identifier("1.2.250.1.999.2", "IPP0001"),)
    name = h.patient.name
    assert (name.birth_family, name.first_given, name.given_list) == (
        "TESTPATIENT",
        "ALPHA",
        "ALPHA BETA",
    )
    assert (h.patient.gender, h.patient.birth_time, h.patient.birthplace_code) == (
        "F",
        "19790328",
        "51215",
    )
    (author,) = h.authors
    assert author.ids[0].extension == "801234534765" and author.organization is not None
    assert h.custodian is not None and h.custodian.name == "Labo test"
    assert h.legal_signature_code == "S"
    assert h.encounter is not None and h.encounter.facility_type is not None
    assert h.encounter.facility_type.code == "SA25"
    assert h.service_events[0].practice_setting is not None
    assert h.replaces is None


def test_replacement_parent_is_read() -> None:
    h = read_cda(cda(version=2, replaces="1.2.250.1.999.7.0")).header
    assert h.replaces == Identifier("1.2.250.1.999.7.0")
    assert h.related_documents == (("RPLC", Identifier("1.2.250.1.999.7.0")),)


def test_level_1_document_and_its_pdf() -> None:
    doc = read_cda(cda(level=1))
    assert doc.level is Level.UNSTRUCTURED and doc.body_media_type == "application/pdf"
    assert embedded_body(doc) == PDF
    with pytest.raises(DocumentError):
        embedded_body(read_cda(cda()))


def test_autopresentable_wrapper_is_unwrapped_and_shared_as_is() -> None:
    inner = cda().split(b"?>", 1)[1]
    raw = WRAPPER % inner
    doc = read_cda(raw)
    assert doc.autopresentable and doc.mime_type == MIME_AUTOPRESENTABLE
    assert doc.raw == raw  # never rewritten
    assert doc.header.id == Identifier("1.2.250.1.999.7.1")


def test_metadata_is_patient_free() -> None:
    doc = read_cda(cda())
    facts = doc.metadata()
    assert facts["cda.type_code"] == "11502-2" and facts["cda.level"] == "3"
    assert not any(TEST_INS in v or "TESTPATIENT" in v for v in facts.values())


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"<html/>", "not-cda"),
        (WRAPPER % b"<p/>", "not-cda"),
        (b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title/></ClinicalDocument>', "invalid"),
        (b"<ClinicalDocument><component/></ClinicalDocument>", "not-cda"),
    ],
    ids=["html", "empty-wrapper", "no-body", "no-namespace"],
)
def test_not_a_cda(raw: bytes, kind: str) -> None:
    with pytest.raises(DocumentError) as caught:
        read_cda(raw)
    assert caught.value.kind == kind


def test_null_flavoured_and_missing_elements_read_as_absent() -> None:
    raw = cda().replace(b'<setId root="1.2.250.1.999.7"/>', b'<setId nullFlavor="NI"/>')
    raw = raw.replace(b'<versionNumber value="1"/>', b'<versionNumber value="x"/>')
    h = read_cda(raw).header
    assert h.set_id is None and h.version_number is None


def test_cda_document_is_hashable_by_value() -> None:
    a, b = read_cda(cda()), read_cda(cda())
    assert isinstance(a, CdaDocument) and a.header == b.header


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("2550814168025", 38),
        ("2940375120005", 91),
        ("1531245007231", 60),
        ("284052A321025", 52),
        ("1234567890123", 11),
        ("2790351215189", 89),
    ],
)
def test_nir_key_vectors(body: str, key: int) -> None:
    """CNAM vectors (notes §2.5). Corsica letters count only at the department position;
    the CNAM unit case ``2B34567890123`` (letters elsewhere) is deliberately not followed."""
    assert nir_key(body) == key


def test_ins_format_and_key() -> None:
    assert key_valid(TEST_INS) and key_valid("2840" + "52A321025" + "52")
    assert well_formed("284052A32102552") and not well_formed("2840S2A32102552")
    assert not key_valid("221042545611404")  # CSE examples: wrong key
    assert not key_valid("27903512151898")  # 14 characters
    with pytest.raises(ValueError):
        nir_key("12")
