"""``passerelle tables import``: the committed xds_* tables are exactly what the NOS gives,
and where two sources disagree the choice made is the one of the CI-SIS text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.errors import ConfigError
from engine.formats.xds.nos_import import PLAN, import_tables
from engine.formats.xds.tables import DEFAULT_TABLES_DIR, load_tables
from tests.support.corpus import ABSENT, CORPUS

NOS = CORPUS / "nos"
needs_nos = pytest.mark.skipif(not NOS.is_dir(), reason=ABSENT)


@needs_nos
def test_the_committed_tables_are_the_generated_ones(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["tables", "import", "--from", str(NOS), "--to", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "xds_format_by_template.yaml" in result.output
    for plan in PLAN:
        name = f"xds_{plan.table}.yaml"
        generated = (tmp_path / name).read_text(encoding="utf-8")
        assert generated == (DEFAULT_TABLES_DIR / name).read_text(encoding="utf-8"), name
        assert f"from the ANS NOS file {plan.file}" in generated


@needs_nos
def test_sources_disagree_on_level_1_format_and_the_volet_wins() -> None:
    # ASS_A11 gives the XDS-SD template five formatCodes; the volet "Transmission de
    # documents CDA en HL7v2" (mapping.md: "CDA N1 => urn:ihe:iti:xds-sd:pdf:2008") one.
    text = (NOS / "ASS_A11-CorresModeleCDA-XdsFormatCode-CISIS.xml").read_text(encoding="utf-8")
    assert text.count('code="1.3.6.1.4.1.19376.1.2.20"') == 5
    volet = CORPUS / "specs/IG-hl7v2-volet-transmission-document-cda-r2/input/pagecontent"
    assert "CDA N1 =>  “urn:ihe:iti:xds-sd:pdf:2008”" in (volet / "mapping.md").read_text()
    entry = load_tables().get("format_by_template", "1.3.6.1.4.1.19376.1.2.20")
    assert entry is not None and entry.code == "urn:ihe:iti:xds-sd:pdf:2008"


@needs_nos
def test_sources_disagree_on_the_content_type_system_and_the_drim_example_decides() -> None:
    # J03 (FHIR) names TRE_R209 by URL only; the DRIM-M XDM example carries its codingScheme.
    drim = CORPUS / "specs/DRIM-M_DATA/informatif/XDM/KA202401/IHE_XDM/SS000001/METADATA.XML"
    assert "<Value>1.2.250.1.213.2.2</Value>" in drim.read_text(encoding="utf-8")
    entry = load_tables().get("content_type_codes", "04")
    assert entry is not None and entry.scheme == "1.2.250.1.213.2.2"
    # TRE_R276 has no OID in any source here: its code is left out, and the header says so.
    header = (DEFAULT_TABLES_DIR / "xds_content_type_codes.yaml").read_text(encoding="utf-8")
    assert "# Left out: 05 (TRE_R276-FormeActivite: code system OID unknown)" in header


@needs_nos
def test_the_official_class_of_ldl_ses_replaces_the_hand_written_one() -> None:
    # The former hand-written table said 11490-0 (LDL-SES) → 11 Synthèse; ASS_X04 says 10.
    entry = load_tables().get("class_by_type", "11490-0")
    assert entry is not None and (entry.code, entry.display) == ("10", "Compte rendu")


def test_a_missing_or_contradictory_source_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        import_tables(tmp_path, tmp_path / "out")
    if not NOS.is_dir():
        pytest.skip(ABSENT)
    for plan in PLAN:
        (tmp_path / plan.file).write_bytes((NOS / plan.file).read_bytes())
    x04 = tmp_path / "ASS_X04-CorrespondanceType-Classe-CISIS.xml"
    text = x04.read_text(encoding="utf-8")
    twice = text.replace(
        "<MappedConceptList>",
        '<MappedConceptList><MappedConcept><Concept code="11490-0" codeSystem="x"/>'
        '<Concept code="52" codeSystem="1.2.250.1.213.1.1.4.1"/></MappedConcept>',
    )
    x04.write_text(twice, encoding="utf-8")
    with pytest.raises(ConfigError, match="'11490-0' maps to '52' and '10'"):
        import_tables(tmp_path, tmp_path / "out")
    j10 = tmp_path / "ValueSet-JDV-J10-XdsFormatCode-CISIS.json"
    j10.write_text(json.dumps({"resourceType": "ValueSet"})[:-1], encoding="utf-8")
    x04.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read the NOS file"):
        import_tables(tmp_path, tmp_path / "out")


@needs_nos
def test_sources_disagree_on_the_signature_format_and_the_drim_example_decides() -> None:
    # JDV_J10 (FHIR export) lists the signature *class* URN as a formatCode and the IHE DSG
    # codes of TRE_A11; the DRIM-M XDM example (the DMP test platform's) gives the signature
    # entry formatCode http://www.w3.org/2000/09/xmldsig# (URN), which Passerelle sends.
    from engine.formats.xds.signature import SIGNATURE_FORMAT

    formats = load_tables().table("format_codes")
    assert "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1" in formats
    assert SIGNATURE_FORMAT.code not in formats
    drim = CORPUS / "specs/DRIM-M_DATA/informatif/XDM/KA202401/IHE_XDM/SS000001/METADATA.XML"
    assert 'nodeRepresentation="http://www.w3.org/2000/09/xmldsig#"' in drim.read_text()
    assert (SIGNATURE_FORMAT.code, SIGNATURE_FORMAT.scheme) == (
        "http://www.w3.org/2000/09/xmldsig#",
        "URN",
    )
