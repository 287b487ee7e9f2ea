"""Other sources: CDA with XPath (namespaces, safe parsing) and JSON with the path subset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.errors import MappingError
from engine.mapping import CompiledMap, check_map
from engine.mapping.nativepaths import InvalidNativePath, parse_json_path

Make = Callable[..., CompiledMap]

CDA = b"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:x="urn:example:ext">
  <id root="1.2.250.1.213.1.1.9" extension="DOC-1"/>
  <code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="CR d'examens biologiques"/>
  <recordTarget><patientRole>
    <id root="1.2.250.1.213.1.4.10" extension="279035121518989"/>
    <id root="1.2.250.1.71.4.2.2.000897406" extension="000003"/>
    <patient><name>
      <family qualifier="BR">PAT-TROIS</family><given>DOMINIQUE</given>
    </name></patient>
  </patientRole></recordTarget>
  <x:note>extension text</x:note>
</ClinicalDocument>"""


def test_cda_xpath_values_each_and_namespaces(make_map: Make) -> None:
    m = make_map(
        """
        map: m
        source: cda
        namespaces: {x: "urn:example:ext"}
        output:
          id: = `/cda:ClinicalDocument/cda:id/@extension`
          type: = `cda:code/@code` + '|' + `cda:code/@displayName`
          family: = upper(`.//cda:patient/cda:name/cda:family`)
          note: = `x:note`
          ids:
            - each: = `cda:recordTarget/cda:patientRole/cda:id`
              system: = 'urn:oid:' + `@root`
              value: = `@extension`
          count: = `count(//cda:id)`
        """
    )
    assert m.apply(CDA) == {
        "id": "DOC-1",
        "type": "11502-2|CR d'examens biologiques",
        "family": "PAT-TROIS",
        "note": "extension text",
        "ids": [
            {"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "279035121518989"},
            {"system": "urn:oid:1.2.250.1.71.4.2.2.000897406", "value": "000003"},
        ],
        "count": 3,
    }


def test_cda_parsing_resolves_no_entity(make_map: Make, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    evil = (
        f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e SYSTEM "file://{secret}">]>'
        '<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&e;</title></ClinicalDocument>'
    ).encode()
    m = make_map("map: m\nsource: cda\noutput:\n  title: = `cda:title`\n")
    assert "TOP SECRET" not in str(m.apply(evil))
    with pytest.raises(MappingError, match="not well-formed XML"):
        m.apply(b"<unclosed")


def test_bad_xpath_and_undeclared_prefix_are_load_errors(write_map: Callable[..., Path]) -> None:
    path = write_map(
        """
        map: m
        source: cda
        output:
          a: = `cda:id[`
          b: = `zz:id`
          c: = PID-3
        """
    )
    assert [(d.line, d.code) for d in check_map(path)] == [
        (4, "invalid-path"),
        (5, "invalid-path"),
        (6, "invalid-path"),  # HL7v2 paths need source: hl7v2
    ]


def test_json_paths(make_map: Make) -> None:
    m = make_map(
        """
        map: m
        source: json
        content_type: application/json
        output:
          name: = `$.patient.name`
          first_tag: = `$.tags[0]`
          all_tags: = join(`$.tags[*]`, ',')
          quoted: = `$['odd key']`
          codes:
            - each: = `$.items[*]`
              code: = `code`
              missing: = `nothing.here`
        """
    )
    data = {
        "patient": {"name": "Dupont"},
        "tags": ["a", "b"],
        "odd key": 1,
        "items": [{"code": "X"}, {"code": "Y"}],
    }
    assert m.apply(data) == {
        "name": "Dupont",
        "first_tag": "a",
        "all_tags": "a,b",
        "quoted": 1,
        "codes": [{"code": "X"}, {"code": "Y"}],
    }
    assert m.apply(b'{"patient": {"name": "B"}}') == {"name": "B"}


def test_json_path_syntax() -> None:
    assert parse_json_path("$.a[2]['b c'][*]") == (True, ["a", 2, "b c", None])
    assert parse_json_path("a.b") == (False, ["a", "b"])
    with pytest.raises(InvalidNativePath, match="invalid JSON path"):
        parse_json_path("$.a..b")
