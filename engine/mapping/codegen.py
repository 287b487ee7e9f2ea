"""Code generation support: a namespace of objects and an emitter of indented Python lines.

A map is compiled to the source of a few Python functions, then ``compile()``d once. The
generated code never contains text from the map: every constant, path accessor, function
and table is an entry of the :class:`Namespace` (names ``K12``, ``P3``...), so the source
is made of identifiers and operators only. ``CompiledMap.source_code`` keeps it for reading.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.mapping.operators import equal, join_texts, member, order
from engine.mapping.values import (
    ANY,
    BOOL,
    LIST,
    NUMBER,
    TEXT,
    FunctionFailure,
    keep,
    to_list,
    to_number,
    to_text,
    truthy,
)


def copy_json(value: Any) -> Any:
    """A fresh copy of constant JSON data (generated code copies constant sub-trees)."""
    if type(value) is dict:
        return {k: copy_json(v) for k, v in value.items()}
    if type(value) is list:
        return [copy_json(v) for v in value]
    return value


_HELPERS: dict[str, Any] = {
    "COPY": copy_json,
    "FunctionFailure": FunctionFailure,
    "NUMS": (int, float, Decimal),
    "KEEP": keep,
    "TRUTHY": truthy,
    "TEXT": to_text,
    "NUMBER": to_number,
    "LIST": to_list,
    "EQ": equal,
    "MEMBER": member,
    "ORDER": order,
    "CAT": join_texts,
}


class Namespace:
    """Objects the generated code refers to, each under a fresh name."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = dict(_HELPERS)
        self._ids = itertools.count()
        self._constants: dict[tuple[type, Any], str] = {}

    def add(self, value: Any, prefix: str = "K") -> str:
        name = f"{prefix}{next(self._ids)}"
        self.values[name] = value
        return name

    def constant(self, value: Any) -> str:
        """A name for an immutable constant (the same value shares one name)."""
        if value is None or isinstance(value, bool):
            return repr(value)
        key = (type(value), value) if isinstance(value, str | int | Decimal | float) else None
        if key is not None and key in self._constants:
            return self._constants[key]
        name = self.add(value)
        if key is not None:
            self._constants[key] = name
        return name

    def temp(self) -> str:
        return f"_t{next(self._ids)}"

    def define(self, source: str, name: str, filename: str) -> Callable[..., Any]:
        """Compile ``source`` (one ``def name``) in this namespace and return the function."""
        code = compile(source, filename, "exec")
        exec(code, self.values)
        function: Callable[..., Any] = self.values[name]
        return function


class Emitter:
    """Lines of Python with the current indentation."""

    def __init__(self, level: int = 1) -> None:
        self.lines: list[str] = []
        self.level = level

    def __call__(self, text: str) -> None:
        self.lines.append("    " * self.level + text)

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self(header)
        self.level += 1
        try:
            yield
        finally:
            self.level -= 1

    def source(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True, slots=True)
class Code:
    """Python source of an expression; ``calls``: it may raise ``FunctionFailure``."""

    text: str
    kind: str
    calls: bool = False


def accepts(kind: str, given: str) -> bool:
    """Whether an argument of static type ``given`` fits a parameter of ``kind``."""
    if kind in (ANY, BOOL) or given == ANY:
        return True
    if kind == LIST:
        return given == LIST
    if kind == NUMBER:
        return given in (NUMBER, TEXT)
    return given != LIST  # text


def truth(code: Code) -> str:
    """A Python condition from an expression (``when``, ``and``, ``if``...)."""
    if code.kind == BOOL:
        return code.text
    if code.kind == TEXT:
        return f"({code.text} != '')"
    return f"TRUTHY({code.text})"


#: Internal static kind of a template object (a dict, or None when left out).
OBJECT = "object"


def keep_test(var: str, kind: str) -> str:
    """A Python condition: "the value in ``var`` belongs in the output"."""
    if kind in (TEXT, OBJECT, LIST):
        return var
    if kind == BOOL:
        return f"{var} is not None"
    return f"({var} or {var} is False or type({var}) in NUMS)"


__all__ = ["OBJECT", "Code", "Emitter", "Namespace", "accepts", "copy_json", "keep_test", "truth"]
