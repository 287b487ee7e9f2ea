"""``passerelle test``: map and route cases, readable failures, skips, the CLI exit code."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.testing import Runner, is_case_file, load_case_file
from engine.testing.conditions import contains

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "samples" / "hl7v2" / "adt_a01_admission.hl7"


ARCHIVE_ROUTES = """\
version: 1
engine: {home: ./var}
channels:
  mllp_in: {type: mllp, listen: "127.0.0.1:0"}
destinations:
  archive: {type: file, directory: ./var/out}
routes:
  - name: hl7_to_archive
    when: {content_type: application/hl7-v2}
    to: [archive]
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A small repository: one map with its tables, an input, an expected output."""
    (tmp_path / "mappings" / "tables").mkdir(parents=True)
    (tmp_path / "mappings" / "tables" / "sex.yaml").write_text("rows: {F: female, M: male}\n")
    (tmp_path / "mappings" / "patient.yaml").write_text(
        textwrap.dedent(
            """\
            map: patient
            source: hl7v2
            output:
              resourceType: Patient
              gender: = lookup('sex', PID-8)
              birthDate: = hl7_date(PID-7)
            """
        )
    )
    (tmp_path / "in").mkdir()
    shutil.copy(SAMPLE, tmp_path / "in" / "a01.hl7")
    expected = {"resourceType": "Patient", "gender": "female", "birthDate": "1985-07-12"}
    (tmp_path / "expected.json").write_text(json.dumps(expected))
    (tmp_path / "routes.yaml").write_text(ARCHIVE_ROUTES)
    return tmp_path


def write_cases(repo: Path, text: str, name: str = "mappings/patient_test.yaml") -> Path:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def run(repo: Path, path: Path) -> list[str]:
    return [r.describe() for r in Runner(repo).run_files([path])]  # type: ignore[union-attr]


def test_a_passing_and_a_failing_map_case(repo: Path) -> None:
    path = write_cases(
        repo,
        """
        cases:
          - name: A01 gives the expected patient
            input: in/a01.hl7
            expect:
              output: {json_equals_file: expected.json}
          - name: a wrong expectation
            input: in/a01.hl7
            expect:
              output:
                json_equals: {resourceType: Patient, gender: male, birthDate: "1985-07-12"}
        """,
    )
    passed, failed = run(repo, path)
    assert passed == "PASS mappings/patient_test.yaml:2 A01 gives the expected patient"
    # The failure names the case and its line, and shows a unified diff
    lines = failed.splitlines()
    assert lines[0] == "FAIL mappings/patient_test.yaml:6 a wrong expectation"
    assert "    output: JSON differs from inline" in lines
    assert '    -  "gender": "male",' in lines and '    +  "gender": "female",' in lines


def test_contains_ack_error_and_skip(repo: Path) -> None:
    path = write_cases(
        repo,
        """
        cases:
          - name: subset holds
            input: in/a01.hl7
            expect:
              output: {json_contains: {gender: female}}
          - name: subset does not hold
            input: in/a01.hl7
            expect:
              output: {json_contains: {gender: male, name: [{family: X}]}}
          - name: an expected mapping error that does not happen
            input: {file: in/a01.hl7}
            map: patient
            expect: {error: "not in table"}
          - name: missing corpus is skipped
            input: {file: "${NOPE:-absent}/x.hl7", skip_if_missing: corpus not here}
            expect: {}
        """,
    )
    results = Runner(repo).run_files([path])
    statuses = [(r.case.name, r.status, r.messages) for r in results]  # type: ignore[union-attr]
    assert statuses[0][1] == "passed"
    assert statuses[1][1] == "failed"
    assert statuses[1][2] == (
        "output: JSON does not contain inline: gender: expected 'male', got 'female'",
    )
    assert statuses[2][1] == "failed" and "expected a mapping error" in statuses[2][2][0]
    assert statuses[3][1] == "skipped" and statuses[3][2][0].startswith("corpus not here")


def test_route_cases_check_ack_routes_and_outputs(repo: Path) -> None:
    path = write_cases(
        repo,
        """
        cases:
          - name: archived as received
            input: {file: in/a01.hl7, channel: mllp_in}
            expect:
              ack: AA
              state: routed
              routes: [hl7_to_archive]
              destinations: [archive]
              outputs: {archive: {content_equals_file: in/a01.hl7}}
          - name: wrong expectations are all reported
            input: in/a01.hl7
            expect:
              ack: AE
              routes: [other]
              no_outputs_from: [archive]
        """,
        name="tests/routes/default.yaml",
    )
    ok, bad = Runner(repo).run_files([path])
    assert ok.status == "passed"  # type: ignore[union-attr]
    assert bad.messages == (  # type: ignore[union-attr]
        "ACK AA, expected AE (accepted)",
        "routes ['hl7_to_archive'], expected ['other']",
        "archive: reached, expected no output",
    )


def test_case_file_errors_are_positioned(repo: Path) -> None:
    path = write_cases(repo, "cases:\n  - name: x\n    inptu: a.hl7\n    expect: {}\n")
    case_file = load_case_file(path, "mappings/patient_test.yaml")
    assert case_file.has_errors
    assert [(d.line, d.col, d.code) for d in case_file.diagnostics] == [
        (2, 5, "missing-key"),
        (3, 5, "unknown-key"),
    ]


def test_case_files_are_recognised_by_place(repo: Path) -> None:
    assert is_case_file(repo / "mappings" / "patient_test.yaml", repo)
    assert not is_case_file(repo / "mappings" / "patient.yaml", repo)
    assert is_case_file(repo / "tests" / "routes" / "x.yaml", repo)
    assert not is_case_file(repo / "tests" / "routes" / "config" / "x.yaml", repo)
    assert not is_case_file(repo / "mappings" / "tables" / "sex_test.yaml", repo)


def test_the_cli_exits_1_on_a_failure(repo: Path) -> None:
    write_cases(
        repo,
        """
        cases:
          - name: fails
            input: in/a01.hl7
            expect: {output: {json_contains: {gender: male}}}
        """,
    )
    result = CliRunner().invoke(main, ["test", "--root", str(repo)])
    assert result.exit_code == 1
    assert "FAIL mappings/patient_test.yaml:2 fails" in result.output
    assert "0 passed, 1 failed, 0 skipped" in result.output
    (repo / "mappings" / "patient_test.yaml").write_text(
        "cases:\n  - name: ok\n    input: in/a01.hl7\n"
        "    expect: {output: {json_contains: {gender: female}}}\n"
    )
    result = CliRunner().invoke(main, ["test", "--root", str(repo)])
    assert result.exit_code == 0, result.output
    assert "1 passed, 0 failed, 0 skipped" in result.output


def test_contains_on_lists_is_order_free() -> None:
    actual = {"entry": [{"a": 1, "b": 2}, {"a": 3}]}
    assert contains({"entry": [{"a": 3}, {"b": 2}]}, actual) is None
    assert (
        contains({"entry": [{"a": 3}, {"a": 3}]}, actual)
        == "entry[1]: no matching item in the list (closest: entry[1].a: expected 3, got 1)"
    )
