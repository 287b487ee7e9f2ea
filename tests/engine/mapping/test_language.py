"""The constructs of the language: fields, each, when, let, yield, groups, selectors, tables,
user functions, constants and the rules for empty values."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from engine.mapping import CompiledMap
from tests.engine.mapping.conftest import A01

Make = Callable[..., CompiledMap]

ORU = (
    b"MSH|^~\\&|LAB|L|R|R|20240101120000||ORU^R01|1|P|2.5\r"
    b"PID|1||42^^^H&1.2.3&ISO^PI\r"
    b"OBR|1||F1^LAB^1.2.9^ISO|P1\r"
    b"OBX|1|NM|A^a^LN||1\r"
    b"NTE|1||note of A\r"
    b"OBX|2|NM|B^b^LN||2\r"
    b"OBR|2||F2^LAB^1.2.9^ISO|P2\r"
    b"OBX|1|NM|C^c^LN||3\r"
    b"SPM|1||||||||||||||||20240101070000\r"
)


def test_fields_each_and_relative_components(make_map: Make) -> None:
    m = make_map(
        """
        map: m
        source: hl7v2
        output:
          identifier:
            - each: PID-3
              type: = .5
              oid: = .4.2
              value: = .1
        """
    )
    assert m.apply(A01)["identifier"] == [
        {"type": "PI", "oid": "1.2.250.1.71.4.2.2.123456789", "value": "100234"},
        {"type": "INS", "oid": "1.2.250.1.213.1.4.10", "value": "285074410912393"},
    ]


def test_when_let_and_yield(make_map: Make) -> None:
    m = make_map(
        """
        map: m
        source: hl7v2
        let:
          sex: = PID-8
        output:
          female: = sex == 'F'
          given:
            - each: split(PID-5[2].3)
              let:
                upper_name: = upper(.)
              when: = upper_name != 'MARIE'
              yield: = upper_name
          skipped:
            when: = sex == 'M'
            text: never
        """
    )
    out = m.apply(A01)
    assert out == {"female": True, "given": ["ÉLODIE"]}


def test_selectors_pick_repetitions_by_content(make_map: Make) -> None:
    m = make_map(
        """
        map: m
        source: hl7v2
        output:
          ipp: = PID-3[.5=PI].1
          ins: = PID-3[.5=INS, .4.2=1.2.250.1.213.1.4.8|1.2.250.1.213.1.4.10].1
          not_ins: = PID-3[.5!=INS].1
          none: = PID-3[.5=NH].1
          all_types: = PID-3[*].5
          birth_place: = PID-11[.7=BDL].9
        """
    )
    assert m.apply(A01) == {
        "ipp": "100234",
        "ins": "285074410912393",
        "not_ins": "100234",
        "all_types": ["PI", "INS"],
        "birth_place": "44109",
    }


def test_segment_groups_obx_under_their_obr(make_map: Make) -> None:
    m = make_map(
        """
        map: m
        source: hl7v2
        output:
          reports:
            - each: OBR
              filler: = OBR-3.1
              specimen_time: = SPM-17
              patient: = PID-3.1
              results:
                - each: OBX
                  yield: = OBX-3.1
          flat:
            - each: OBX under OBR
              yield: = OBR-3.1 + '/' + OBX-3.1 + '/' + text(index)
          notes:
            - each: OBX under OBR
              code: = OBX-3.1
              note: = NTE-3
        """
    )
    out = m.apply(ORU)
    # OBX belong to the OBR above them; PID (before the first OBR) is read at message level;
    # SPM after the second OBR belongs to that group only.
    assert out["reports"] == [
        {"filler": "F1", "patient": "42", "results": ["A", "B"]},
        {"filler": "F2", "specimen_time": "20240101070000", "patient": "42", "results": ["C"]},
    ]
    assert out["flat"] == ["F1/A/1", "F1/B/2", "F2/C/3"]  # index counts the items of this each
    assert out["notes"] == [{"code": "A", "note": "note of A"}, {"code": "B"}, {"code": "C"}]


def test_tables_columns_defaults_and_flat_layout(make_map: Make) -> None:
    tables = {
        "status": """
            columns: [code, display]
            default: {code: UNK, display: Unknown}
            rows:
              F: {code: final, display: Final}
            """,
        "flat": """
            "01": one
            NO: norway
            """,
    }
    m = make_map(
        """
        map: m
        source: hl7v2
        output:
          known: = lookup('status', 'F', 'display')
          default: = lookup('status', 'X', 'code')
          texts_stay_texts: = lookup('flat', 'NO') + lookup('flat', '01')
          missing: = lookup('flat', 'ZZ')
          member: = in_table('flat', 'NO')
        """,
        tables=tables,
    )
    assert m.apply(A01) == {
        "known": "Final",
        "default": "UNK",
        "texts_stay_texts": "norwayone",
        "member": True,
    }


def test_empty_values_are_left_out_and_lists_flatten(make_map: Make) -> None:
    m = make_map(
        """
        map: m
        source: hl7v2
        output:
          empty_text: = PID-99
          empty_object: {a: = PID-99, b: {c: = PID-98}}
          kept_false: false
          kept_zero: 0
          line: [= PID-11.1, = PID-99, = split('a b')]
          joined: = 'urn:oid:' + PID-99
          concat: = concat('x', PID-99, 'y')
          \\when: escaped control key
          literal: \\= not an expression
        """
    )
    assert m.apply(A01) == {
        "kept_false": False,
        "kept_zero": 0,
        "line": ["12 rue des Lilas", "a", "b"],
        "concat": "xy",
        "when": "escaped control key",
        "literal": "= not an expression",
    }


def test_user_functions_and_lazy_if(make_map: Make) -> None:
    m = make_map(
        """
        map: m
        source: hl7v2
        functions:
          "label(a, b)": = upper(a) + '-' + b
          "ipp()": = PID-3[.5=PI].1
        output:
          built: = label('x', ipp())
          lazy: = if(PID-8 == 'F', 'female', required(PID-99))
          first: = coalesce(PID-99, PID-98, 'fallback')
        """
    )
    assert m.apply(A01) == {"built": "X-100234", "lazy": "female", "first": "fallback"}


def test_decimals_keep_their_digits_in_json(make_map: Make) -> None:
    m = make_map(
        """
        map: m
        source: hl7v2
        output:
          value: = number('5.60')
          whole: = number('138')
        """
    )
    out = m.apply(A01)
    assert m.dumps(out) == b'{"value":5.60,"whole":138}'
    assert json.loads(m.dumps(out)) == {"value": 5.6, "whole": 138}


def test_apply_gives_fresh_objects(make_map: Make) -> None:
    m = make_map(
        """
        map: m
        source: hl7v2
        output:
          coding: [{system: http://loinc.org, code: X}]
        """
    )
    first: Any = m.apply(A01)
    first["coding"][0]["code"] = "changed"
    assert m.apply(A01) == {"coding": [{"system": "http://loinc.org", "code": "X"}]}


def test_the_map_is_compiled_once_to_python(make_map: Make) -> None:
    m = make_map(
        """
        map: m
        source: hl7v2
        output:
          gender: = PID-8
        """
    )
    assert m.source_code.startswith("def _run(ctx):")
    assert "PID" not in m.source_code  # map text lives in the namespace, not in the code
