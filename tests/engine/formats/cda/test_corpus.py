"""Every ANS CDA example of the shared corpus is read: header extracted, or a clear error.

Also: XSD validation against the ANS kit (one schema compiled for the session), level and
auto-presentable detection, and the French header rules on known cases (INDEX.md §3-§5).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.formats.cda import Level, check_header, errors, load_schema, read_cda, validate
from tests.engine.formats.cda.builders import ANS_EXAMPLES, CDA_XSD, NO_CORPUS

FILES = sorted(ANS_EXAMPLES.glob("*.xml")) if ANS_EXAMPLES.is_dir() else []
needs_corpus = pytest.mark.skipif(not FILES, reason=NO_CORPUS)
LEVEL_1 = {
    "BIO-CR-BIO_2021.01_CDA-R2-Niveau-1.xml",
    "DOC_NON_STRUCTURE_CDA-R2-N1.xml",
    "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml",
    "TLM-CR_2022.01.xml",
}
AUTOPRESENTABLE = {
    "BIO-CR-BIO_2021.01_Auto-Presentable.xml",
    "BIO-CR-BIO_2021.01_Auto-Presentable_avec-image.xml",
    "CANCER-PPS_2022.01_Autopresentable.xml",
}
BAD_KEY_PRODUCTION_ROOT = {
    "CSE-CS24_2024.01.xml",
    "CSE-CS8_2024.01.xml",
    "CSE-CS9_2024.01.xml",
    "CSE-MDE_2023.01.xml",
    "OBP-SEM_2024.01.xml",
    "OBP-SNE_2024.01.xml",
}
BAD_KEY_TEST_ROOT = {
    "CSE-CS24_2025.01.xml",
    "CSE-CS8_2025.01.xml",
    "CSE-CS9_2025.01.xml",
    "SDM-MR_2024.01_nouveau-ne.xml",
}


@needs_corpus
def test_the_corpus_is_all_there() -> None:
    assert len(FILES) == 94


@needs_corpus
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_example_is_read_with_its_header(path: Path) -> None:
    doc = read_cda(path.read_bytes())
    h = doc.header
    assert h.id is not None and h.code is not None and h.title
    assert h.patient is not None and h.patient.ins is not None
    assert h.authors and h.custodian is not None and h.legal_authenticator is not None
    assert doc.level is (Level.UNSTRUCTURED if path.name in LEVEL_1 else Level.STRUCTURED)
    assert doc.autopresentable is (path.name in AUTOPRESENTABLE)
    rule_errors = {f.rule for f in errors(check_header(h, doc.level))}
    assert rule_errors == ({"FR-INS-03"} if path.name in BAD_KEY_PRODUCTION_ROOT else set())


@needs_corpus
def test_every_example_is_valid_against_the_ans_schema() -> None:
    schema = load_schema(CDA_XSD)
    invalid = {
        path.name: problems
        for path in FILES
        if (problems := validate(read_cda(path.read_bytes()).element, schema))  # type: ignore[arg-type]
    }
    assert invalid == {}


@needs_corpus
def test_the_schema_does_reject_a_broken_document() -> None:
    raw = (ANS_EXAMPLES / "LDL-SES_2022.01.xml").read_bytes()
    broken = raw.replace(b"<languageCode", b"<languageKode", 1)
    problems = validate(read_cda(broken).element, CDA_XSD)  # type: ignore[arg-type]
    assert problems and "languageKode" in problems[0]


@needs_corpus
def test_ldl_ses_header() -> None:
    h = read_cda((ANS_EXAMPLES / "LDL-SES_2022.01.xml").read_bytes()).header
    assert h.id is not None and h.id.unique_id == "1.2.250.1.213.1.1.1.29.2022.1.1"
    assert h.code is not None and h.code.code == "11490-0"
    assert "1.2.250.1.213.1.1.1.29" in h.template_roots
    assert h.encounter is not None and h.encounter.facility_type is not None
    assert h.encounter.facility_type.code == "SA01"
    assert h.service_events[0].practice_setting is not None
    assert h.service_events[0].practice_setting.code == "ETABLISSEMENT"
    assert h.authors[0].ids[0].extension == "801234567897"
    assert h.custodian is not None and h.custodian.ids[0].extension == "1750803447"


@needs_corpus
def test_invalid_nir_keys_are_errors_under_production_roots_warnings_under_test_roots() -> None:
    for name in BAD_KEY_PRODUCTION_ROOT | BAD_KEY_TEST_ROOT:
        doc = read_cda((ANS_EXAMPLES / name).read_bytes())
        (finding,) = [f for f in check_header(doc.header) if f.rule == "FR-INS-03"]
        expected = "error" if name in BAD_KEY_PRODUCTION_ROOT else "warning"
        assert finding.severity == expected, name


@needs_corpus
def test_rplc_with_version_1_is_flagged() -> None:
    doc = read_cda((ANS_EXAMPLES / "CSE-CS8_2024.01.xml").read_bytes())
    assert "FR-HDR-21" in {f.rule for f in check_header(doc.header)}
