"""Run-time values of Carte and their conversions.

A value is JSON data (``str``, ``int``, ``Decimal``, ``bool``, ``None``, lists and dicts).
*Empty* means ``None``, ``""``, ``[]`` or ``{}``: empty values are left out of the output,
so a template never writes an element the message does not fill. Texts read from a
message are never converted implicitly, except by the functions that say so.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Final

#: Static types used to check calls when a map is loaded.
TEXT: Final = "text"
NUMBER: Final = "number"
BOOL: Final = "bool"
LIST: Final = "list"
ANY: Final = "any"

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_NUMBERS = (int, Decimal, float)


class FunctionFailure(Exception):
    """A function cannot produce a value from its arguments.

    The message says why in terms of the map (never the values: they are patient data).
    """


def is_empty(value: Any) -> bool:
    """True for None, "", [] and {}."""
    return value is None or value == "" or (isinstance(value, list | dict) and not value)


def keep(value: Any) -> bool:
    """True when ``value`` belongs in the output (not empty)."""
    return bool(value) or value is False or type(value) in _NUMBERS


def truthy(value: Any) -> bool:
    """Condition value: booleans as they are, otherwise "is not empty"."""
    if value is True or value is False:
        return value
    return keep(value)


def to_text(value: Any) -> str:
    """Text of a value: "" for None, ``true``/``false``, numbers as written.

    Raises:
        FunctionFailure: a list or an object where a text is needed.
    """
    if type(value) is str:
        return value
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) in _NUMBERS:
        return str(value)
    if isinstance(value, list | dict):
        kind = "a list" if isinstance(value, list) else "an object"
        raise FunctionFailure(f"expects a text, got {kind}")
    return str(value)


def to_number(value: Any) -> int | Decimal | None:
    """A number from a number or a decimal text (``"7.20"`` keeps its precision).

    Returns None for an empty value.

    Raises:
        FunctionFailure: the text is not a decimal number.
    """
    if value is None or value == "":
        return None
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return value
    if isinstance(value, bool):
        raise FunctionFailure("expects a number, got a boolean")
    if isinstance(value, float):
        return Decimal(repr(value))
    text = to_text(value).strip()
    if not _NUMBER.fullmatch(text):
        raise FunctionFailure("the value is not a decimal number")
    try:
        if "." in text:
            return Decimal(text)
        return int(text)
    except (InvalidOperation, ValueError) as exc:  # pragma: no cover - regex guards it
        raise FunctionFailure("the value is not a decimal number") from exc


def to_list(value: Any) -> list[Any]:
    """A list: lists as they are, [] for empty, a one-item list otherwise."""
    if isinstance(value, list):
        return value
    return [] if is_empty(value) else [value]


def describe(static_type: str) -> str:
    """``"a text"``, ``"a list"``... for messages."""
    return {TEXT: "a text", NUMBER: "a number", BOOL: "a condition", LIST: "a list"}.get(
        static_type, "a value"
    )


__all__ = [
    "ANY",
    "BOOL",
    "LIST",
    "NUMBER",
    "TEXT",
    "FunctionFailure",
    "describe",
    "is_empty",
    "keep",
    "to_list",
    "to_number",
    "to_text",
    "truthy",
]
