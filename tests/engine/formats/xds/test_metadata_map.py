"""The map ``mappings/cda_to_xds_metadata.yaml`` against the official correspondences.

The oracle is read here, independently of the generated tables, from the ANS NOS files of
the shared corpus (ASS_A11 templateId → formatCode, ASS_X04 typeCode → classCode, JDV_J57):
every ANS CDA example whose content model is in ASS_A11 (or that is level 1) must get the
official formatCode and classCode; every other one is refused with the table named.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from engine.errors import DocumentError, MappingError
from engine.formats.cda import read_cda
from engine.formats.cda.model import Level
from engine.formats.xds.datatypes import utc_dtm
from engine.formats.xds.from_cda import PreparedDocument, SubmissionSettings, document_entry
from engine.formats.xds.tables import load_tables
from tests.engine.formats.cda.builders import ANS_EXAMPLES, NO_CORPUS
from tests.support.corpus import CORPUS

NOS = CORPUS / "nos"
SVS = "{urn:ihe:iti:svs:2008}"
TABLES = load_tables()
DEFAULTS = SubmissionSettings(
    "1.2.250.1.999.1", "07", default_facility_type="SA01", default_practice_setting="ETABLISSEMENT"
)


def _pairs(name: str) -> list[tuple[str, str]]:
    root = etree.parse(str(NOS / name)).getroot()
    pairs = []
    for mapped in root.iter(f"{SVS}MappedConcept"):
        source, target = mapped.findall(f"{SVS}Concept")
        pairs.append((source.get("code", ""), target.get("code", "")))
    return pairs


def _examples() -> list[Path]:
    return sorted(ANS_EXAMPLES.glob("*.xml")) if ANS_EXAMPLES.is_dir() else []


@pytest.mark.skipif(not (ANS_EXAMPLES.is_dir() and NOS.is_dir()), reason=NO_CORPUS)
@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.name)
def test_every_ans_example_in_the_official_correspondence_is_described(path: Path) -> None:
    try:
        doc = read_cda(path.read_bytes())
    except DocumentError:
        pytest.skip("not a CDA document the DMP path reads")
    formats = dict(reversed(_pairs("ASS_A11-CorresModeleCDA-XdsFormatCode-CISIS.xml")))
    classes = dict(_pairs("ASS_X04-CorrespondanceType-Classe-CISIS.xml"))
    if doc.level is Level.UNSTRUCTURED:
        expected_format = "urn:ihe:iti:xds-sd:pdf:2008"  # the volet: CDA N1 → pdf
    else:
        roots = [t.root for t in doc.header.template_ids]
        expected_format = next((formats[r] for r in roots if r in formats), "")
    assert doc.header.code is not None
    expected_class = classes.get(doc.header.code.code, "")
    prepared = PreparedDocument(doc)
    if not expected_format:
        with pytest.raises(MappingError, match=r"xds_format_by_template\.yaml \(ASS_A11\)"):
            document_entry(prepared, TABLES, DEFAULTS)
        return
    entry = document_entry(prepared, TABLES, DEFAULTS)
    assert entry.format_code.code == expected_format
    assert entry.class_code.code == expected_class


@pytest.mark.skipif(not ANS_EXAMPLES.is_dir(), reason=NO_CORPUS)
def test_official_correspondences_cover_all_but_the_trod_models() -> None:
    described, refused = [], []
    for path in _examples():
        try:
            document_entry(PreparedDocument(read_cda(path.read_bytes())), TABLES, DEFAULTS)
            described.append(path.name)
        except MappingError:
            refused.append(path.name)
    assert len(described) == 90
    assert all(name.startswith("BIO-TROD_") for name in refused) and len(refused) == 4


@pytest.mark.skipif(not ANS_EXAMPLES.is_dir(), reason=NO_CORPUS)
def test_author_role_and_event_codes_are_written() -> None:
    names = [p for p in _examples() if b"<functionCode" in p.read_bytes()]
    with_roles = []
    for path in names:
        try:
            doc = read_cda(path.read_bytes())
            entry = document_entry(PreparedDocument(doc), TABLES, DEFAULTS)
        except (DocumentError, MappingError):
            continue
        with_roles += [r for a in entry.authors for r in a.roles]
    assert with_roles and all(r.count("^") == 2 for r in with_roles)
    assert {r.split("^")[0] for r in with_roles} <= set(TABLES.table("author_roles"))
    ldl = read_cda((ANS_EXAMPLES / "LDL-SES_2022.01.xml").read_bytes())
    events = document_entry(PreparedDocument(ldl), TABLES, DEFAULTS).event_codes
    assert events and all(e.code and e.scheme for e in events)


def test_a_class_outside_the_dmp_value_set_is_refused_with_the_table_named() -> None:
    # ASS_X04 maps FEUILLE-DE-STYLE to class 99, which JDV_J57 (DMP) does not hold.
    from tests.engine.formats.cda.builders import cda

    raw = cda(type_code="FEUILLE-DE-STYLE").replace(
        b'codeSystem="2.16.840.1.113883.6.1"', b'codeSystem="1.2.250.1.213.1.1.4.12"', 1
    )
    with pytest.raises(MappingError, match=r"class '99'.*xds_class_codes\.yaml \(JDV_J57\)"):
        document_entry(PreparedDocument(read_cda(raw)), TABLES, DEFAULTS)


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
