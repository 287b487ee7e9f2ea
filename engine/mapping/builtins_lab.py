"""Built-in functions for laboratory results (ORU OBX values) as labs send them.

* ``lab_number('5,60')`` → ``5.60``; ``lab_number('<0.5')`` → ``0.5``: a decimal comma, a
  leading comparator and spaces are accepted; a text that is not a number gives nothing
  (the map then keeps it as text), never a failure that would dead-letter the report;
* ``lab_comparator('<0.5')`` → ``<``: the FHIR ``Quantity.comparator`` of such a value;
* ``ucum('µmol/L')`` → ``umol/L``: the UCUM code of a unit, or nothing when the unit is not
  valid UCUM (:mod:`engine.mapping.ucum`);
* ``text_lines(OBX-5[*])``: the repetitions of a TX/FT value, one per line;
* ``base64(encoding, data)``: ED data (OBX-5.4/5.5) as FHIR ``base64Binary``.
"""

from __future__ import annotations

import base64 as _b64
import binascii
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.mapping.functions import builtin
from engine.mapping.ucum import ucum_code
from engine.mapping.values import NUMBER, FunctionFailure, is_empty, to_text

_LAB_NUMBER = re.compile(r"^\s*(<=|>=|<|>|=)?\s*([+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+))\s*$")


def _parts(value: str) -> tuple[str, str] | None:
    match = _LAB_NUMBER.match(value)
    if match is None:
        return None
    return match.group(1) or "", match.group(2).replace(",", ".")


@builtin("lab_number", "value: text", returns=NUMBER)
def lab_number(value: str) -> int | Decimal | None:
    """The number of a result as labs write it (``5,60``, ``<0.5``, `` 138 ``), else nothing.

    The digits are kept (``5,60`` → ``5.60``)."""
    parts = _parts(value)
    if parts is None:
        return None
    digits = parts[1]
    if digits.endswith("."):
        digits = digits[:-1]
    if digits.startswith((".", "-.", "+.")):
        digits = digits.replace(".", "0.", 1)
    try:
        number = Decimal(digits)
    except InvalidOperation:
        return None
    return int(number) if "." not in digits else number


@builtin("lab_comparator", "value: text")
def lab_comparator(value: str) -> str:
    """The comparator before a number (``<``, ``<=``, ``>``, ``>=``), else nothing."""
    parts = _parts(value)
    return parts[0] if parts is not None and parts[0] != "=" else ""


@builtin("ucum", "unit: text")
def ucum(unit: str) -> str:
    """The UCUM code of a unit (``µmol/L`` → ``umol/L``), nothing when not valid UCUM."""
    return ucum_code(unit)


@builtin("text_lines", "items: list")
def text_lines(items: list[Any]) -> str:
    """The items as lines of one text (TX/FT repetitions); empty items are kept as blank
    lines between others."""
    lines = [to_text(i) if not is_empty(i) else "" for i in items]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


@builtin("base64", "encoding: text, data: text")
def base64(encoding: str, data: str) -> str:
    """ED data as ``base64Binary``: ``Base64`` data checked and padded, ``A`` (ASCII) or
    no encoding encoded; ``Hex`` decoded then encoded."""
    kind = encoding.strip().upper()
    if not data:
        return ""
    if kind == "BASE64":
        compact = "".join(data.split())
        compact += "=" * (-len(compact) % 4)
        try:
            _b64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise FunctionFailure("the ED data is not valid Base64") from exc
        return compact
    if kind == "HEX":
        try:
            raw = bytes.fromhex(data)
        except ValueError as exc:
            raise FunctionFailure("the ED data is not valid hexadecimal") from exc
        return _b64.b64encode(raw).decode("ascii")
    return _b64.b64encode(data.encode("utf-8")).decode("ascii")


__all__ = ["base64", "lab_comparator", "lab_number", "text_lines", "ucum"]
