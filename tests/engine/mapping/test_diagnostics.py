"""Load errors: every problem of a map is reported at once, at file:line:col, with a caret."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.config import check_text, render
from engine.errors import ConfigError
from engine.mapping import check_map, compile_map
from tests.engine.config._helpers import at, where
from tests.engine.mapping.conftest import WriteMap

BROKEN = """
map: m
source: hl7v2
let:
  ipp: = PID-3[.5=PI].1
  unused: = PID-8
output:
  id: = hassh('Patient', ipp)
  gender: = lookup('sexe', PID-8)
  birthDate: = hl7_date(PID-7, PID-8)
  name: = upper(PID-5[*].1)
  x: = .4
  y: = ipq + 'a'
  z: = concat('a',
  w: = PID-3[0].1
  v: = lookup('sex', PID-8, 'code')
  u: = matches(PID-8, '[')
  t: = lookup(PID-8, 'F')
  s:
    each: 12
    rule: Not A Name
"""


def test_a_map_with_several_errors_reports_all_of_them(write_map: WriteMap) -> None:
    # Given a map with one problem per line
    path = write_map(BROKEN, tables={"sex": "F: female\n"})
    text = path.read_text()
    # When it is checked
    diagnostics = check_map(path)
    # Then each problem is reported at its own line and column, in order
    assert where(diagnostics) == [
        (*at(text, "= PID-8"), "warning", "unused-variable"),
        (*at(text, "hassh"), "error", "unknown-function"),
        (*at(text, "'sexe'"), "error", "unknown-table"),
        (*at(text, "hl7_date"), "error", "wrong-arguments"),
        (*at(text, "PID-5[*].1"), "error", "type-mismatch"),
        (*at(text, ".4"), "error", "misplaced-item"),
        (*at(text, "ipq"), "error", "unknown-variable"),
        (at(text, "concat('a',")[0], at(text, "concat('a',")[1] + 11, "error", "expression-syntax"),
        (*at(text, "PID-3[0].1"), "error", "invalid-path"),
        (*at(text, "'code'"), "error", "unknown-column"),
        (*at(text, "'['"), "error", "invalid-regex"),
        (*at(text, "PID-8, 'F'"), "error", "wrong-arguments"),
        (*at(text, "12"), "error", "invalid-value"),
        (*at(text, "Not A Name"), "error", "invalid-value"),
    ]
    messages = {d.code: d.message for d in diagnostics if d.code != "wrong-arguments"}
    assert "did you mean 'hash'" in messages["unknown-function"]
    assert "did you mean 'sex'" in messages["unknown-table"]
    assert "did you mean 'ipp'" in messages["unknown-variable"]
    wrong = [d.message for d in diagnostics if d.code == "wrong-arguments"]
    assert "got 2: hl7_date(value: text) -> text" in wrong[0]
    assert "'table' must be written as a quoted text" in wrong[1]


def test_compile_map_raises_with_every_diagnostic_rendered_with_a_caret(
    write_map: WriteMap,
) -> None:
    path = write_map(BROKEN, tables={"sex": "F: female\n"})
    with pytest.raises(ConfigError) as exc:
        compile_map(path)
    assert len([d for d in exc.value.diagnostics if d.is_error]) == 13
    rendered = render(exc.value.diagnostics)
    assert f"{path}:7:9: error[unknown-function] unknown function 'hassh'" in rendered
    assert " 7 |   id: = hassh('Patient', ipp)\n   |         ^---" in rendered


def test_top_level_problems(write_map: WriteMap) -> None:
    path = write_map(
        """
        map: other
        source: hl7
        timezone: Mars/Olympus
        outpt: {}
        """
    )
    codes = [(d.line, d.code) for d in check_map(path)]
    assert codes == [
        (1, "missing-key"),  # output
        (1, "map-name-mismatch"),
        (2, "invalid-value"),  # source
        (3, "invalid-value"),  # timezone
        (4, "unknown-key"),  # outpt (did you mean output?)
    ]


def test_table_files_are_checked_with_their_own_positions(write_map: WriteMap) -> None:
    path = write_map(
        """
        map: m
        source: hl7v2
        output:
          a: = lookup('status', PID-8, 'code')
        """,
        tables={
            "status": """
                table: status
                columns: [code]
                colour: red
                rows:
                  F: {code: final, cde: x}
                """
        },
    )
    diagnostics = check_map(path)
    table_file = str(path.parent / "tables" / "status.yaml")
    assert [(d.file, d.line, d.code) for d in diagnostics if d.file == table_file] == [
        (table_file, 3, "unknown-key"),
        (table_file, 5, "invalid-table"),
    ]
    assert any(d.code == "invalid-table" and d.file == str(path) for d in diagnostics)


def test_passerelle_check_reports_maps_at_the_route(tmp_path: Path) -> None:
    # Given a routes.yaml naming an unknown map and a map with an error
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "good.yaml").write_text("map: good\nsource: hl7v2\noutput: {a: 1}\n")
    (tmp_path / "maps" / "bad.yaml").write_text("map: bad\nsource: hl7v2\noutput: {a: = nope()}\n")
    text = textwrap.dedent(
        f"""\
        version: 1
        engine: {{mappings: {tmp_path / "maps"}}}
        channels: {{in: {{type: mllp, listen: "127.0.0.1:0"}}}}
        destinations: {{out: {{type: file, directory: {tmp_path}}}}}
        routes:
          - {{name: a, to: [out], map: god, continue: true}}
          - {{name: b, to: [out], map: bad, continue: true}}
          - {{name: c, to: [out], map: good}}
        """
    )
    # When it is checked
    diagnostics = check_text(text, env={})
    # Then the unknown map and the broken map are reported at 'map:', the map's own error follows
    found = [(d.file, d.line, d.code) for d in diagnostics if d.is_error]
    assert ("routes.yaml", 6, "unknown-map") in found
    assert ("routes.yaml", 7, "invalid-map") in found
    assert (str(tmp_path / "maps" / "bad.yaml"), 3, "unknown-function") in found
    unknown = next(d for d in diagnostics if d.code == "unknown-map")
    assert "did you mean 'good'" in unknown.message
