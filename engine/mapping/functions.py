"""The function registry: every Carte function with a typed signature checked at load.

A function is declared with a compact signature::

    @builtin("lookup", "table: table, code: text, column?: column", returns=ANY)
    def lookup(table: CodeTable, code: str, column: str | None = None) -> Any: ...

Parameter kinds:

* ``text``, ``number``, ``bool``, ``list``, ``any`` -- evaluated per message and converted
  before the call (``text``: :func:`~engine.mapping.values.to_text`; ``number``:
  :func:`~engine.mapping.values.to_number`; ``bool``: truthiness; ``list``: as is).
* ``table``, ``column``, ``regex``, ``zone`` -- must be string literals; they are checked and
  resolved once when the map is compiled (a code table, one of its columns, a compiled
  regular expression, a time zone).

``?`` marks an optional parameter and ``*`` a variadic one (last). ``returns="common"``
means "the type shared by the value arguments, else any". Implementations raise
:class:`~engine.mapping.values.FunctionFailure` with a reason free of patient data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from engine.mapping.values import ANY, BOOL, LIST, NUMBER, TEXT

#: Kinds given as literals and resolved at compile time.
LITERAL_KINDS = frozenset({"table", "column", "regex", "zone"})
VALUE_KINDS = frozenset({TEXT, NUMBER, BOOL, LIST, ANY})


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str
    optional: bool = False
    variadic: bool = False

    def __str__(self) -> str:
        mark = "*" if self.variadic else ""
        opt = "?" if self.optional and not self.variadic else ""
        return f"{mark}{self.name}{opt}: {self.kind}"


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One function: its parameters, static return type, implementation and summary."""

    name: str
    params: tuple[Param, ...]
    returns: str
    impl: Callable[..., Any]
    summary: str

    @property
    def min_args(self) -> int:
        return sum(1 for p in self.params if not p.optional and not p.variadic)

    @property
    def max_args(self) -> int | None:
        return None if self.params and self.params[-1].variadic else len(self.params)

    def param_for(self, index: int) -> Param:
        """The parameter receiving argument ``index`` (the variadic one repeats)."""
        if index < len(self.params):
            return self.params[index]
        return self.params[-1]

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(str(p) for p in self.params)}) -> {self.returns}"


REGISTRY: dict[str, FunctionSpec] = {}

F = TypeVar("F", bound=Callable[..., Any])


def _parse_params(signature: str) -> tuple[Param, ...]:
    params: list[Param] = []
    for part in (p.strip() for p in signature.split(",") if p.strip()):
        name, _, kind = (x.strip() for x in part.partition(":"))
        variadic = name.startswith("*")
        optional = name.endswith("?") or variadic
        name = name.strip("*?")
        if kind not in VALUE_KINDS | LITERAL_KINDS:
            raise ValueError(f"unknown parameter kind {kind!r} in {signature!r}")
        params.append(Param(name, kind, optional, variadic))
    return tuple(params)


def builtin(name: str, params: str, *, returns: str = TEXT) -> Callable[[F], F]:
    """Register ``func`` as the Carte function ``name`` (see the module docstring)."""

    def register(func: F) -> F:
        if name in REGISTRY:
            raise ValueError(f"function {name!r} is already registered")
        summary = (func.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        REGISTRY[name] = FunctionSpec(name, _parse_params(params), returns, func, summary)
        return func

    return register


def lookup_function(name: str) -> FunctionSpec | None:
    """The registered function, or None (built-ins are loaded on first use)."""
    _load_builtins()
    return REGISTRY.get(name)


def all_functions() -> list[FunctionSpec]:
    """Every function, sorted by name (for docs and "did you mean")."""
    _load_builtins()
    return sorted(REGISTRY.values(), key=lambda s: s.name)


def _load_builtins() -> None:
    from engine.mapping import (  # noqa: F401
        builtins_data,
        builtins_lab,
        builtins_text,
        builtins_time,
    )


__all__ = [
    "LITERAL_KINDS",
    "REGISTRY",
    "VALUE_KINDS",
    "FunctionSpec",
    "Param",
    "all_functions",
    "builtin",
    "lookup_function",
]
