"""Operators of Carte expressions and argument conversions.

* ``==`` / ``!=``: numbers compare as numbers; otherwise texts compare as texts (``1 ==
  '1'`` holds; an empty value equals ``''`` and ``null``).
* ``<`` ``<=`` ``>`` ``>=``: as numbers when both sides are numbers (or decimal texts),
  else as texts; false when either side is empty.
* ``in`` / ``not in``: membership in a list, with ``==``'s rules.
* ``+``: joins two texts; empty when either side is empty (so ``'urn:oid:' + X`` is empty,
  not ``urn:oid:``, when X is missing). ``concat()`` skips empty parts instead.
* ``and`` / ``or`` / ``not``: conditions; evaluation stops as soon as the result is known.

The compiler inlines the simple cases (texts compared with ``==``, ``in`` a list of quoted
texts) and calls these helpers otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from engine.mapping.values import FunctionFailure, is_empty, to_list, to_number, to_text

_NUMBERS = (int, Decimal, float)


def equal(a: Any, b: Any) -> bool:
    if type(a) is type(b) and type(a) is str:
        return bool(a == b)
    if is_empty(a) and is_empty(b):
        return True
    if type(a) in _NUMBERS and type(b) in _NUMBERS:
        return bool(a == b)
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return bool(a == b)
    return to_text(a) == to_text(b)


def _order(a: Any, b: Any) -> tuple[Any, Any] | None:
    if is_empty(a) or is_empty(b):
        return None
    try:
        x, y = to_number(a), to_number(b)
        if x is not None and y is not None:
            return x, y
    except FunctionFailure:
        pass
    return to_text(a), to_text(b)


def member(value: Any, items: Any) -> bool:
    """``value in items`` with :func:`equal`'s rules."""
    return any(equal(value, item) for item in to_list(items))


_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda x, y: bool(x < y),
    "<=": lambda x, y: bool(x <= y),
    ">": lambda x, y: bool(x > y),
    ">=": lambda x, y: bool(x >= y),
}


def order(op: str, a: Any, b: Any) -> bool:
    """``a op b`` for ``<``, ``<=``, ``>``, ``>=`` (false when either side is empty)."""
    pair = _order(a, b)
    if pair is None:
        return False
    x, y = pair
    if type(x) is not type(y) and not (type(x) in _NUMBERS and type(y) in _NUMBERS):
        return False
    return _TESTS[op](x, y)


def join_texts(a: Any, b: Any) -> str:
    """``a + b``: the two texts end to end, or empty when either is empty."""
    x = a if type(a) is str else to_text(a)
    y = b if type(b) is str else to_text(b)
    return x + y if x and y else ""


__all__ = ["equal", "join_texts", "member", "order"]
