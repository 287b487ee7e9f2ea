"""Built-in functions: HL7 dates and time zones, identifiers, texts, tables; the registry."""

from __future__ import annotations

import uuid as std_uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.mapping import all_functions, compile_map, fhir_problems
from engine.mapping.builtins_data import (
    NAMESPACE,
    authority_system,
    hash_,
    integer,
    number,
    search_token,
    uuid,
)
from engine.mapping.builtins_text import match, normalize_space, split, title
from engine.mapping.builtins_time import (
    EuropeanZone,
    hl7_date,
    hl7_datetime,
    hl7_instant,
    resolve_zone,
)
from engine.mapping.values import FunctionFailure
from tests.engine.mapping.conftest import REPO

PARIS = resolve_zone("Europe/Paris")


@pytest.mark.parametrize(
    ("hl7", "fhir"),
    [
        ("2026", "2026"),
        ("202611", "2026-11"),
        ("20261120", "2026-11-20"),
        ("20261120093000", "2026-11-20T09:30:00+01:00"),  # winter: UTC+1
        ("20260720093000", "2026-07-20T09:30:00+02:00"),  # summer: UTC+2
        ("202611200930", "2026-11-20T09:30:00+01:00"),  # no seconds: :00
        ("2026112009", "2026-11-20T09:00:00+01:00"),
        ("20261120093000.123", "2026-11-20T09:30:00.123+01:00"),
        ("20261120093000-0500", "2026-11-20T09:30:00-05:00"),  # an offset given wins
        ("", ""),
    ],
)
def test_hl7_datetime_to_fhir(hl7: str, fhir: str) -> None:
    assert hl7_datetime(hl7, PARIS) == fhir


def test_hl7_date_drops_the_time_and_instant_needs_one() -> None:
    assert hl7_date("20261120093000+0100") == "2026-11-20"
    assert hl7_instant("202611200930", PARIS) == "2026-11-20T09:30:00+01:00"
    with pytest.raises(FunctionFailure, match="needs a date and a time"):
        hl7_instant("20261120", PARIS)


@pytest.mark.parametrize("bad", ["2026-11-20", "20261320", "20260230", "2026112025", "abc", "1"])
def test_invalid_dates_fail_without_quoting_the_value(bad: str) -> None:
    with pytest.raises(FunctionFailure) as exc:
        hl7_datetime(bad, PARIS)
    assert bad not in str(exc.value)


def test_european_rule_matches_the_tz_database_around_the_changes() -> None:
    # Given the fallback rule used when the system has no tz database
    rule, tzdb = EuropeanZone(1), ZoneInfo("Europe/Paris")
    start = datetime(2026, 3, 28, 0, 0)
    # Then every local quarter hour over the spring and autumn changes has the same offset
    for base in (start, datetime(2026, 10, 24, 0, 0)):
        for quarter in range(4 * 72):
            local = base + timedelta(minutes=15 * quarter)
            assert rule.utcoffset(local) == tzdb.utcoffset(local), local


def test_uuid_is_uuid5_of_the_parts_and_empty_parts_give_nothing() -> None:
    assert uuid("Patient", "urn:oid:1.2.3", "42") == str(
        std_uuid.uuid5(NAMESPACE, "Patient\x1furn:oid:1.2.3\x1f42")
    )
    assert uuid("Patient", "", "42") == ""
    assert hash_("a", "b") == hash_("a", "b") != hash_("ab")
    assert len(hash_("a")) == 32


@given(st.lists(st.text(min_size=1), min_size=1, max_size=4))
def test_uuid_equals_the_standard_library(parts: list[str]) -> None:
    assert uuid(*parts) == str(std_uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def test_search_token_and_authority_system() -> None:
    assert search_token("urn:oid:1.2.3", "A B&C") == "urn:oid:1.2.3|A%20B%26C"
    assert search_token("", "42") == "42"
    assert search_token("urn:oid:1.2.3", "") == ""
    assert authority_system("1.2.250.1.213.1.4.10", "ISO") == "urn:oid:1.2.250.1.213.1.4.10"
    assert authority_system("000897406", "M") == "urn:oid:1.2.250.1.71.4.2.2.000897406"
    assert authority_system("https://h.example/ids", "URI") == "https://h.example/ids"
    assert authority_system("CHU-X", "") == ""


def test_numbers_and_texts() -> None:
    assert str(number("7.20")) == "7.20" and number("") is None and integer("12") == 12
    with pytest.raises(FunctionFailure, match="not a decimal"):
        number("7,2 mmol")
    with pytest.raises(FunctionFailure, match="whole number"):
        integer("1.5")
    assert title("JEAN-PIERRE de la FONTAINE") == "Jean-Pierre De La Fontaine"
    assert normalize_space("  a \t b\n") == "a b"
    assert split("a  b") == ["a", "b"] and split("a|b", "|") == ["a", "b"]
    import re

    assert match("3.5-5.1", re.compile(r"-\s*([0-9.]+)$")) == "5.1"
    assert match("x", re.compile("y")) == ""


def test_every_function_has_a_signature_and_a_summary() -> None:
    specs = all_functions()
    names = [s.name for s in specs]
    assert names == sorted(names)
    assert {"hl7_datetime", "lookup", "uuid", "hash", "coalesce", "upper", "trim"} <= set(names)
    for spec in specs:
        assert spec.summary, spec.name
        assert spec.signature.startswith(f"{spec.name}(")


def test_the_reference_documents_every_function_and_its_example_map_runs(tmp_path: Path) -> None:
    docs = (REPO / "docs" / "mapping.md").read_text(encoding="utf-8")
    missing = [s.name for s in all_functions() if f"`{s.name}(" not in docs]
    assert missing == []
    # The first example of the reference is a working map
    example = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "patient_minimal.yaml").write_text(example, encoding="utf-8")
    compiled = compile_map(tmp_path / "patient_minimal.yaml", tables=REPO / "mappings" / "tables")
    patient = compiled.apply((REPO / "samples" / "hl7v2" / "adt_a01_admission.hl7").read_bytes())
    assert fhir_problems(patient) == []
    assert patient["identifier"] == [
        {"system": "urn:oid:1.2.250.1.71.4.2.2.123456789", "value": "100234"}
    ]
    assert [n["use"] for n in patient["name"]] == ["usual", "official"]
