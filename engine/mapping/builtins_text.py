"""Built-in functions on texts, lists and conditions.

Empty inputs give empty outputs (``upper("")`` is ``""``) so optional fields stay optional.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from engine.mapping.functions import builtin
from engine.mapping.values import (
    ANY,
    BOOL,
    LIST,
    NUMBER,
    FunctionFailure,
    is_empty,
    keep,
    to_text,
)

_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@builtin("upper", "value: text")
def upper(value: str) -> str:
    """The text in capital letters."""
    return value.upper()


@builtin("lower", "value: text")
def lower(value: str) -> str:
    """The text in small letters."""
    return value.lower()


@builtin("title", "value: text")
def title(value: str) -> str:
    """Each word capitalised, the rest in small letters (``JEAN-PIERRE`` → ``Jean-Pierre``)."""
    return _WORD.sub(lambda m: m.group()[:1].upper() + m.group()[1:].lower(), value)


@builtin("trim", "value: text")
def trim(value: str) -> str:
    """The text without leading and trailing white space."""
    return value.strip()


@builtin("normalize_space", "value: text")
def normalize_space(value: str) -> str:
    """The text trimmed, each run of white space replaced by one space."""
    return _SPACES.sub(" ", value).strip()


@builtin("concat", "*parts: any")
def concat(*parts: Any) -> str:
    """The parts joined end to end; empty parts are skipped (unlike ``+``)."""
    return "".join(to_text(p) for p in parts if not is_empty(p))


@builtin("join", "items: list, separator: text")
def join(items: list[Any], separator: str) -> str:
    """The non-empty items joined with ``separator``."""
    return separator.join(to_text(i) for i in items if not is_empty(i))


@builtin("split", "value: text, separator?: text", returns=LIST)
def split(value: str, separator: str = "") -> list[str]:
    """The non-empty parts of the text, cut at ``separator`` (default: white space)."""
    parts = value.split(separator) if separator else value.split()
    return [p for p in parts if p]


@builtin("replace", "value: text, old: text, new: text")
def replace(value: str, old: str, new: str) -> str:
    """The text with every ``old`` replaced by ``new``."""
    if not old:
        raise FunctionFailure("the text to replace is empty")
    return value.replace(old, new)


@builtin("substring", "value: text, start: number, length?: number")
def substring(value: str, start: int | Decimal | None, length: int | Decimal | None = None) -> str:
    """Part of the text from position ``start`` (1 = first character), ``length`` long."""
    if start is None or int(start) < 1:
        raise FunctionFailure("start must be 1 or more")
    begin = int(start) - 1
    return value[begin:] if length is None else value[begin : begin + max(int(length), 0)]


@builtin("starts_with", "value: text, prefix: text", returns=BOOL)
def starts_with(value: str, prefix: str) -> bool:
    """True when the text begins with ``prefix``."""
    return value.startswith(prefix)


@builtin("ends_with", "value: text, suffix: text", returns=BOOL)
def ends_with(value: str, suffix: str) -> bool:
    """True when the text ends with ``suffix``."""
    return value.endswith(suffix)


@builtin("contains", "value: text, part: text", returns=BOOL)
def contains(value: str, part: str) -> bool:
    """True when ``part`` occurs in the text."""
    return part in value


@builtin("matches", "value: text, pattern: regex", returns=BOOL)
def matches(value: str, pattern: re.Pattern[str]) -> bool:
    """True when the regular expression finds a match in the text (use ``^…$`` for all)."""
    return pattern.search(value) is not None


@builtin("match", "value: text, pattern: regex, group?: number")
def match(value: str, pattern: re.Pattern[str], group: int | Decimal | None = None) -> str:
    """The text the regular expression captures: group 1 if it has groups, else the match."""
    found = pattern.search(value)
    if found is None:
        return ""
    index = int(group) if group is not None else (1 if pattern.groups else 0)
    if index > pattern.groups:
        raise FunctionFailure(f"the pattern has no group {index}")
    return found.group(index) or ""


@builtin("count", "items: list", returns=NUMBER)
def count(items: list[Any]) -> int:
    """The number of non-empty items."""
    return sum(1 for i in items if keep(i))


@builtin("first", "items: list", returns=ANY)
def first(items: list[Any]) -> Any:
    """The first non-empty item, or nothing."""
    return next((i for i in items if keep(i)), None)


@builtin("last", "items: list", returns=ANY)
def last(items: list[Any]) -> Any:
    """The last non-empty item, or nothing."""
    return next((i for i in reversed(items) if keep(i)), None)


@builtin("default", "value: any, fallback: any", returns="common")
def default(value: Any, fallback: Any) -> Any:
    """``value`` when it is not empty, else ``fallback``."""
    return value if keep(value) else fallback


@builtin("coalesce", "*values: any", returns="common")
def coalesce(*values: Any) -> Any:
    """The first value that is not empty."""
    return next((v for v in values if keep(v)), None)


@builtin("if", "condition: bool, then: any, otherwise?: any", returns="common")
def if_(condition: bool, then: Any, otherwise: Any = None) -> Any:
    """``then`` when the condition holds, else ``otherwise`` (nothing when omitted)."""
    return then if condition else otherwise


@builtin("required", "value: any, what?: text", returns="common")
def required(value: Any, what: str = "") -> Any:
    """``value``, or a mapping error when it is empty (the message is dead-lettered)."""
    if not keep(value):
        raise FunctionFailure(f"no value{f' for {what}' if what else ''}")
    return value


@builtin("present", "value: any", returns=BOOL)
def present(value: Any) -> bool:
    """True when the value is not empty."""
    return keep(value)


@builtin("empty", "value: any", returns=BOOL)
def empty(value: Any) -> bool:
    """True when the value is empty."""
    return not keep(value)


@builtin("text", "value: any")
def text(value: Any) -> str:
    """The value as a text (``true``, ``12``…)."""
    return to_text(value)


__all__: list[str] = []
