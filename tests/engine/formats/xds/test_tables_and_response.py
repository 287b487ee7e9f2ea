"""XDS tables (YAML data), HL7 data types and RegistryResponse reading/writing."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError, DocumentError
from engine.formats.cda import Actor, Identifier, Organization, PersonName
from engine.formats.xds import (
    CodedValue,
    RegistryError,
    load_tables,
    parse_registry_response,
    registry_response,
)
from engine.formats.xds import tables as t
from engine.formats.xds.datatypes import clean, utc_dtm, xcn, xon
from engine.formats.xds.tables import DEFAULT_TABLES_DIR, REQUIRED


def test_project_tables_load_and_answer() -> None:
    tables = load_tables()
    assert tables.get(t.CLASS_BY_TYPE, "11490-0") == CodedValue(
        "10", "1.2.250.1.213.1.1.4.1", "Compte rendu"
    )
    assert tables.contains(t.CONFIDENTIALITY, CodedValue("N", "2.16.840.1.113883.5.25", ""))
    assert not tables.contains(t.CONFIDENTIALITY, CodedValue("N", "other", ""))
    for name, table in tables.tables.items():
        assert table, name
    # every classCode the correspondence gives is in the DMP class value set but 99
    # (FEUILLE-DE-STYLE: JDV_J06 has it, JDV_J57 for the DMP does not)
    classes = tables.table(t.CLASS_CODES)
    outside = {v.code for v in tables.table(t.CLASS_BY_TYPE).values() if v.code not in classes}
    assert outside == {"99"}
    formats = tables.table(t.FORMAT_CODES)
    assert all(v.code in formats for v in tables.table(t.FORMAT_BY_TEMPLATE).values())


def test_missing_or_broken_tables_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing XDS table"):
        load_tables(tmp_path)
    for name in REQUIRED:
        (tmp_path / f"xds_{name}.yaml").write_text(
            (DEFAULT_TABLES_DIR / f"xds_{name}.yaml").read_text(encoding="utf-8"), encoding="utf-8"
        )
    (tmp_path / "xds_class_codes.yaml").write_text('"10": nope\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="needs a mapping with 'system'"):
        load_tables(tmp_path)


def test_utc_dtm() -> None:
    assert utc_dtm("20191203133000+0100") == "20191203123000"
    assert utc_dtm("201912030030-0230") == "201912030300"
    assert utc_dtm("20191203") == "20191203"
    assert utc_dtm("20191203133000") == "20191203133000"
    assert utc_dtm("") == ""
    with pytest.raises(ValueError):
        utc_dtm("2019-12-03")


def test_person_and_organisation_data_types() -> None:
    actor = Actor(
        ids=(Identifier("1.2.250.1.71.4.2.1", "801234567897"),),
        name=PersonName("DE^LA|RUE", ("Jean", "Paul"), "M", "DR"),
    )
    assert xcn(actor) == (
        "801234567897^DE LA RUE^Jean^Paul^DR^M^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    )
    assert xcn(Actor()) == ""
    org = Organization((Identifier("1.2.250.1.71.4.2.2", "1750803447"),), "CHU & Co")
    assert xon(org) == "CHU Co^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750803447"
    assert clean("a\r\nb~c") == "a b c"


@pytest.mark.parametrize("status", ["Success", "PartialSuccess", "Failure"])
def test_registry_response_round_trip(status: str) -> None:
    errors = (
        RegistryError("XDSRegistryMetadataError", "bad classCode", "urn:uuid:1"),
        RegistryError("XDSExtraMetadataNotSaved", "ignored slot", severity="Warning"),
    )
    result = parse_registry_response(registry_response(status, errors))  # type: ignore[arg-type]
    assert result.status == status and result.errors == errors
    assert result.error_codes == {"XDSRegistryMetadataError"}
    assert result.summary().startswith(f"{status}: XDSRegistryMetadataError at urn:uuid:1")


def test_unusable_registry_responses() -> None:
    from lxml import etree

    with pytest.raises(DocumentError):
        parse_registry_response(etree.fromstring(b"<nothing/>"))
    bad = registry_response("Success")
    bad.set("status", "urn:unknown")
    with pytest.raises(DocumentError):
        parse_registry_response(bad)
