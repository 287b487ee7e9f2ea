"""The FR Core checker never fails on malformed input: whatever a map produces, it returns
findings (never raises), and an expression FHIRPath cannot evaluate is recorded, not raised."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.formats.fhir.frcore import FrCoreChecker, invariants
from engine.formats.fhir.frcore.elements import build_tree
from engine.formats.fhir.frcore.walker import Walk

from .conftest import golden

BUNDLES = {n: golden(n) for n in ("adt_a01_admission.json", "oru_r01_lab_report.json")}

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


PATHS = [(name, p) for name, bundle in BUNDLES.items() for p in _paths(bundle) if p]


@pytest.fixture(scope="module")
def own_checker(checker: FrCoreChecker) -> FrCoreChecker:
    """A checker of its own: malformed values make FHIRPath fail, which is recorded in
    ``unsupported_invariants`` (other tests pin that the shared checker's stays empty)."""
    return FrCoreChecker(checker.version)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(PATHS), _JSON)
def test_any_value_anywhere_gives_findings_not_errors(
    own_checker: FrCoreChecker, where: tuple[str, tuple[Any, ...]], value: Any
) -> None:
    checker = own_checker
    name, path = where
    bundle = copy.deepcopy(BUNDLES[name])
    node = bundle
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    findings = checker.check(bundle)
    assert all(f.path and f.rule for f in findings)


def test_an_expression_fhirpath_cannot_evaluate_is_recorded(own_checker: FrCoreChecker) -> None:
    with pytest.raises(invariants.UnsupportedInvariant):
        invariants.evaluate("hasValue()", {"id": "x"}, "Patient", {})
    checker = own_checker
    tree = build_tree(
        {
            "type": "Thing",
            "snapshot": {
                "element": [
                    {
                        "id": "Thing",
                        "constraint": [
                            {"key": "x-1", "severity": "error", "expression": "hasValue()"}
                        ],
                    }
                ]
            },
        }
    )
    walk = Walk(checker, "thing", {}, {})
    walk.element({"a": 1}, tree, "Thing", "Thing", "Thing")
    assert walk.findings == []
    assert "x-1" in checker.unsupported_invariants
