"""Laboratory value functions and the UCUM check (engine.mapping.builtins_lab, .ucum)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.mapping import CompiledMap
from engine.mapping.builtins_lab import base64, lab_comparator, lab_number, text_lines
from engine.mapping.ucum import METRIC, NON_METRIC, PREFIXES, is_ucum, ucum_code
from engine.mapping.values import FunctionFailure

Make = Callable[..., CompiledMap]
ORU = (
    b"MSH|^~\\&|LAB|L|R|R|20240101120000||ORU^R01|1|P|2.5\r"
    b"OBR|1||F1\rOBX|1|NM|A^a^LN||1\rOBX|2|NM|B^b^LN||2\rOBR|2||F2\rOBX|1|NM|C^c^LN||3\r"
)


@pytest.mark.parametrize(
    ("text", "number", "comparator"),
    [
        ("138", 138, ""),
        ("5,60", Decimal("5.60"), ""),
        ("<0.5", Decimal("0.5"), "<"),
        ("<=0,5", Decimal("0.5"), "<="),
        ("> 10", 10, ">"),
        (">=10", 10, ">="),
        ("=5", 5, ""),
        (" -3,2 ", Decimal("-3.2"), ""),
        (".5", Decimal("0.5"), ""),
        ("traces", None, ""),
        ("1e3", None, ""),
        ("5,6,0", None, ""),
        ("", None, ""),
    ],
)
def test_lab_numbers_and_comparators(text: str, number: object, comparator: str) -> None:
    assert lab_number(text) == number
    assert lab_comparator(text) == comparator


def test_decimal_comma_keeps_its_digits() -> None:
    assert str(lab_number("5,60")) == "5.60"


@given(st.text(max_size=30))
def test_lab_number_never_fails(text: str) -> None:
    value = lab_number(text)
    assert value is None or isinstance(value, int | Decimal)


@pytest.mark.parametrize(
    "unit",
    [
        "mmol/L", "g/dL", "g/L", "10*9/L", "10^9/L", "10*12/L", "%", "U/L", "[IU]/L", "mU/L",
        "mm[Hg]", "mL/min/{1.73_m2}", "fL", "pg", "umol/L", "ng/mL", "ug/L", "kU/L", "meq/L",
        "mosm/kg", "/[HPF]", "/min", "kg/m2", "mg/(24.h)", "[arb'U]/mL", "Cel", "[pH]", "1",
        "{ratio}", "s", "cm[H2O]", "10*3/uL", "/uL",
    ],
)  # fmt: skip
def test_valid_ucum_units(unit: str) -> None:
    assert is_ucum(unit)
    assert ucum_code(unit) == unit


@pytest.mark.parametrize(
    "unit",
    [
        "UI/L",
        "mmol/l/",
        "g//L",
        "xyz",
        "mg per L",
        "(mg",
        "mg{",
        "mmol/L)",
        "secondes",
        "ml/mn",
        "",
    ],
)
def test_units_that_are_not_ucum(unit: str) -> None:
    assert not is_ucum(unit)
    assert ucum_code(unit) == ""


def test_micro_sign_is_the_u_prefix() -> None:
    assert ucum_code("µmol/L") == "umol/L"
    assert ucum_code("\u03bcg/L") == "ug/L"
    assert not is_ucum("µmol/L")  # as written it is not UCUM; ucum_code() normalises


@given(st.sampled_from(PREFIXES), st.sampled_from(sorted(METRIC)), st.sampled_from(["", "2", "-1"]))
def test_every_prefixed_metric_atom_is_ucum(prefix: str, atom: str, exponent: str) -> None:
    assert is_ucum(prefix + atom + (exponent if not atom.endswith("]") else ""))


@given(st.sampled_from(sorted(NON_METRIC)))
def test_every_non_metric_atom_is_ucum(atom: str) -> None:
    assert is_ucum(atom)


def test_prefixes_only_on_metric_atoms() -> None:
    assert is_ucum("kg") and is_ucum("mL") and is_ucum("umol")
    assert not is_ucum("k%") and not is_ucum("mh") and not is_ucum("k[pH]")


@given(st.text(max_size=20))
def test_the_ucum_check_never_fails(text: str) -> None:
    assert is_ucum(text) in (True, False)


def test_text_lines_and_base64() -> None:
    assert text_lines(["Ligne 1", "", "Ligne 3", ""]) == "Ligne 1\n\nLigne 3"
    assert base64("Base64", "SGVsbG8") == "SGVsbG8="  # re-padded
    assert base64("A", "Hello") == "SGVsbG8="
    assert base64("Hex", "48656c6c6f") == "SGVsbG8="
    with pytest.raises(FunctionFailure, match="not valid Base64"):
        base64("Base64", "not base64!")


def test_a_function_calling_a_function_that_reads_paths_is_not_memoised(make_map: Make) -> None:
    """Each OBX gets its own URL: ``url()`` reads nothing itself but calls ``code()``."""
    m = make_map(
        """
        map: m
        source: hl7v2
        functions:
          "code()": = OBX-3.1
          "url()": = 'urn:' + code()
        output:
          urls:
            - each: OBX under OBR
              yield: = url()
        """
    )
    assert m.apply(ORU) == {"urls": ["urn:A", "urn:B", "urn:C"]}


def test_an_each_item_that_yields_a_list_is_flattened(make_map: Make) -> None:
    """``each: OBR`` yielding the OBX of its group: one flat list (and OBR-level values)."""
    m = make_map(
        """
        map: m
        source: hl7v2
        output:
          flat:
            - each: OBR
              let:
                order: = OBR-3.1
              yield:
                - each: OBX
                  yield: = order + '/' + OBX-3.1
        """
    )
    assert m.apply(ORU) == {"flat": ["F1/A", "F1/B", "F2/C"]}
