"""French header rules: each broken rule gives one clear, patient-free finding."""

from __future__ import annotations

import pytest

from engine.formats.cda import check_header, read_cda
from tests.engine.formats.cda.builders import TEST_INS, cda


def rules(raw: bytes) -> dict[str, str]:
    doc = read_cda(raw)
    return {f.rule: f.severity for f in check_header(doc.header, doc.level)}


def test_a_conformant_document_has_no_finding() -> None:
    assert rules(cda()) == {}
    assert rules(cda(level=1)) == {}


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        (b'<realmCode code="FR"/>', b"", "FR-HDR-02"),
        (b'extension="POCD_HD000040"', b'extension="POCD_XX"', "FR-HDR-03"),
        (b'<signatureCode code="S"/>', b'<signatureCode code="X"/>', "FR-HDR-04"),
        (b'<templateId root="1.2.250.1.213.1.1.1.1"/>', b"", "FR-HDR-10"),
        (b"<title>Compte rendu de test</title>", b"", "FR-HDR-01"),
        (b'<languageCode code="fr-FR"/>', b"", "FR-HDR-01"),
    ],
)
def test_broken_header_rules(old: bytes, new: bytes, rule: str) -> None:
    raw = cda()
    assert old in raw
    assert rules(raw.replace(old, new))[rule] == "error"


def test_level_1_must_declare_xds_sd() -> None:
    raw = cda(level=1).replace(b'<templateId root="1.3.6.1.4.1.19376.1.2.20"/>', b"")
    assert rules(raw)["FR-HDR-12"] == "error"


def test_missing_ins_traits_each_named() -> None:
    doc = read_cda(cda(traits=False))
    messages = [f.message for f in check_header(doc.header) if f.rule == "FR-INS-04"]
    assert len(messages) == 6
    assert any("birth name" in m for m in messages)
    assert any("birthplace" in m for m in messages)
    assert not any(TEST_INS in m for m in messages)


def test_no_ins_is_a_warning_for_the_document() -> None:
    assert rules(cda(ins=None)) == {"FR-INS-01": "warning"}


def test_bad_key_severity_depends_on_the_root() -> None:
    assert rules(cda(ins="221042545611404", ins_root="1.2.250.1.213.1.4.8")) == {
        "FR-INS-03": "error"
    }
    assert rules(cda(ins="221042545611404")) == {"FR-INS-03": "warning"}
    assert rules(cda(ins="12345")) == {"FR-INS-02": "error"}


def test_version_consistency() -> None:
    assert rules(cda(version=2)) == {"FR-HDR-22": "warning"}
    assert rules(cda(replaces="1.2.250.1.999.7.0")) == {"FR-HDR-21": "warning"}
    assert rules(cda(version=2, replaces="1.2.250.1.999.7.1"))["FR-HDR-23"] == "error"


def test_findings_read_well() -> None:
    doc = read_cda(cda().replace(b'<realmCode code="FR"/>', b""))
    (finding,) = check_header(doc.header)
    assert str(finding) == "FR-HDR-02 (error): realmCode must be FR"
