"""The generated table of vital-sign LOINC codes matches the FR Core release in the corpus."""

from __future__ import annotations

from pathlib import Path

from engine.formats.fhir.frcore import FrCoreChecker
from engine.formats.fhir.frcore.vital_signs import TABLE, main, render, vital_sign_codes


def test_the_committed_table_is_what_the_generator_writes(
    checker: FrCoreChecker, tmp_path: Path
) -> None:
    codes = vital_sign_codes(checker)
    assert codes["8867-4"].endswith("/fr-core-observation-heartrate")
    assert len(codes) == 9
    assert TABLE.read_text(encoding="utf-8") == render(codes, checker.version)
    out = tmp_path / "table.yaml"
    assert main(["--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == TABLE.read_text(encoding="utf-8")
