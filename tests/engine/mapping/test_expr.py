"""The expression parser: precedence, literals, paths, items and positioned syntax errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.mapping.expr import (
    Binary,
    Call,
    ExprSyntaxError,
    Item,
    ListLit,
    Literal,
    Path,
    Unary,
    Var,
    parse_expression,
    walk,
)


def test_precedence_or_and_not_compare_concat() -> None:
    # Given an expression mixing every operator level
    node = parse_expression("not a == 'x' + b or c and d in ['A01', 'A04']")
    # Then 'or' is at the top, 'and' below it, 'not' applies to the comparison
    assert isinstance(node, Binary) and node.op == "or"
    assert isinstance(node.left, Unary) and node.left.op == "not"
    comparison = node.left.operand
    assert isinstance(comparison, Binary) and comparison.op == "=="
    assert isinstance(comparison.right, Binary) and comparison.right.op == "+"
    assert isinstance(node.right, Binary) and node.right.op == "and"
    membership = node.right.right
    assert isinstance(membership, Binary) and membership.op == "in"
    assert isinstance(membership.right, ListLit) and len(membership.right.items) == 2


def test_literals_keep_their_types_and_quotes_double_to_escape() -> None:
    assert parse_expression("'l''eau'") == Literal(0, 8, "l'eau")
    assert parse_expression('"say ""hi"""').value == 'say "hi"'  # type: ignore[attr-defined]
    assert parse_expression("12").value == 12  # type: ignore[attr-defined]
    assert parse_expression("-7.50").value == Decimal("-7.50")  # type: ignore[attr-defined]
    assert parse_expression("true").value is True  # type: ignore[attr-defined]
    assert parse_expression("null").value is None  # type: ignore[attr-defined]
    # No backslash escapes: regular expressions read as written
    assert parse_expression(r"'^\s*[0-9]$'").value == r"^\s*[0-9]$"  # type: ignore[attr-defined]


def test_paths_items_variables_and_calls() -> None:
    node = parse_expression("lookup('sex', PID-8) + .4.2 + `cda:id/@root` + ipp + .")
    kinds = [type(n).__name__ for n in walk(node)]
    assert kinds.count("Binary") == 4
    found = {type(n): n for n in walk(node) if not isinstance(n, Binary)}
    call = found[Call]
    assert isinstance(call, Call) and call.name == "lookup"
    assert [type(a) for a in call.args] == [Literal, Path]
    paths = [n for n in walk(node) if isinstance(n, Path)]
    assert [(p.kind, p.text) for p in paths] == [("hl7", "PID-8"), ("native", "cda:id/@root")]
    items = [n for n in walk(node) if isinstance(n, Item)]
    assert [(i.component, i.subcomponent) for i in items] == [(4, 2), (None, None)]
    assert any(isinstance(n, Var) and n.name == "ipp" for n in walk(node))


def test_hl7_paths_with_selectors_stay_one_token() -> None:
    node = parse_expression("PID-3[.5=INS, .1!=, .4.2=1.2.3|1.2.4].4.2")
    assert isinstance(node, Path) and node.text == "PID-3[.5=INS, .1!=, .4.2=1.2.3|1.2.4].4.2"


def test_not_in_is_one_operator() -> None:
    node = parse_expression("PV1-2 not in ['N']")
    assert isinstance(node, Binary) and node.op == "not in"


@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        ("concat('a',", 11, "expected a value"),
        ("a ==", 4, "expected a value"),
        ("(a", 2, "expected ')'"),
        ("a b", 2, "unexpected 'b'"),
        ("'open", 0, "unexpected character"),
        ("", 0, "empty expression"),
        ("f(a;b)", 3, "unexpected character"),
    ],
)
def test_syntax_errors_carry_the_offset(text: str, offset: int, message: str) -> None:
    with pytest.raises(ExprSyntaxError) as exc:
        parse_expression(text)
    assert exc.value.offset == offset
    assert message in str(exc.value)
