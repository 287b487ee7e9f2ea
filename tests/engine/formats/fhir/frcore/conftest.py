"""Fixtures of the FR Core checker tests: the checker and resources built from the
project's own golden outputs (never patient data from elsewhere)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from engine.corpus import ABSENT, REPO
from engine.formats.fhir.frcore import FrCoreChecker, frcore_available, frcore_checker

EXPECTED = REPO / "tests" / "routes" / "expected"


@pytest.fixture(scope="session")
def checker() -> FrCoreChecker:
    if not frcore_available():
        pytest.skip(ABSENT)
    return frcore_checker()


def golden(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXPECTED / name).read_text())
    return data


@pytest.fixture
def a01() -> dict[str, Any]:
    """The A01 golden Bundle: Patient (fr-core-patient-ins), venue and movement."""
    return copy.deepcopy(golden("adt_a01_admission.json"))


def errors(checker: FrCoreChecker, resource: Any) -> list[str]:
    return [str(f) for f in checker.check(resource) if f.severity == "error"]
