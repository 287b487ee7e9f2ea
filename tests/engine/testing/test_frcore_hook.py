"""The runner's FR Core hook: a map output that is not FR Core conformant fails its case."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from engine.testing import Runner
from engine.testing.frcore import frcore_problems, frcore_skipped

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "samples" / "hl7v2" / "adt_a01_admission.hl7"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    skipped = frcore_skipped()
    if skipped:
        pytest.skip(skipped)
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "stay.yaml").write_text(
        textwrap.dedent(
            """\
            map: stay
            source: hl7v2
            output:
              resourceType: Encounter
              identifier:
                - type:
                    coding:
                      - system: https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identifier-type
                        code: VN
                  system: urn:oid:1.2.3
                  value: = PV1-19.1
              status: in-progress
              class: {system: "http://terminology.hl7.org/CodeSystem/v3-ActCode", code: IMP}
              period:
                start: = if(PV1-2 == 'X', hl7_datetime(PV1-44))
            """
        )
    )
    (tmp_path / "in.hl7").write_bytes(SAMPLE.read_bytes())
    shutil.copy(REPO / "routes.yaml", tmp_path / "routes.yaml")
    return tmp_path


def run(repo: Path, validate: bool) -> list[str]:
    cases = repo / "mappings" / "stay_test.yaml"
    cases.write_text(
        "cases:\n  - name: an Encounter without period\n    input: in.hl7\n"
        f"    validate: {str(validate).lower()}\n    expect: {{}}\n"
    )
    return [r.describe() for r in Runner(repo).run_files([cases])]  # type: ignore[union-attr]


def test_a_non_conformant_output_fails_its_case(repo: Path) -> None:
    (result,) = run(repo, validate=True)
    assert result.splitlines() == [
        "FAIL mappings/stay_test.yaml:2 an Encounter without period",
        "    output: FR Core: Encounter.period: at least 1 required, found 0 "
        "[cardinality; fr-core-encounter]",
    ]


def test_validate_false_turns_the_check_off(repo: Path) -> None:
    (result,) = run(repo, validate=False)
    assert result.startswith("PASS")


def test_only_fhir_json_is_checked() -> None:
    if frcore_skipped():
        pytest.skip(str(frcore_skipped()))
    body = b'{"resourceType": "Encounter"}'
    assert frcore_problems(body, "application/json", "d") == []
    assert frcore_problems(body, "application/fhir+json; charset=utf-8", "d") != []
    assert frcore_problems(b"{", "application/fhir+json", "d") == [
        "d: FR Core: the output is not JSON"
    ]
