"""Compile-time state shared by the compilers: settings, scopes, slots and diagnostics.

Positions: an expression is a YAML scalar; :meth:`Env.position` turns a character offset
inside it into the file's line and column when the scalar is written on one line (plain or
quoted), else points at the scalar's start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from engine.config.diagnostics import did_you_mean
from engine.config.document import DataPath, Document, Position
from engine.mapping.codegen import Namespace
from engine.mapping.tables import TableLoader


def dotted(path: DataPath) -> str:
    """``output.entry[0].resource`` for ``("output", "entry", 0, "resource")``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class VarInfo:
    slot: int
    type: str
    path: DataPath
    used: bool = False


@dataclass
class Scope:
    """Names visible at one place of the map; ``item_kind`` is set inside ``each``.

    Item kinds: ``segment`` (``each: OBX``), ``repetition`` (``each: PID-3``), ``node``
    (XML element), ``value`` (anything else).
    """

    parent: Scope | None = None
    names: dict[str, VarInfo] = field(default_factory=dict)
    item_kind: str | None = None
    dynamic: bool = False  # in a function body: the item is the caller's

    def lookup(self, name: str) -> VarInfo | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    def visible(self) -> list[str]:
        out: list[str] = []
        scope: Scope | None = self
        while scope is not None:
            out.extend(scope.names)
            scope = scope.parent
        return out

    def each_kind(self) -> str | None:
        scope: Scope | None = self
        while scope is not None:
            if scope.item_kind is not None:
                return scope.item_kind
            scope = scope.parent
        return "dynamic" if self._dynamic() else None

    def message_level(self) -> bool:
        """True when no enclosing ``each`` iterates segments (paths read the whole message)."""
        scope: Scope | None = self
        while scope is not None:
            if scope.item_kind == "segment" or scope.dynamic:
                return False
            scope = scope.parent
        return True

    def _dynamic(self) -> bool:
        scope: Scope | None = self
        while scope is not None:
            if scope.dynamic:
                return True
            scope = scope.parent
        return False


@dataclass
class Env:
    """Everything the compilers share for one map."""

    doc: Document
    map_name: str
    source: str
    zone: tzinfo
    namespaces: dict[str, str]
    tables: TableLoader
    slots: int = 0
    user_functions: dict[str, Any] = field(default_factory=dict)
    rules: dict[str, DataPath] = field(default_factory=dict)
    uses_decimals: bool = False
    ns: Namespace = field(default_factory=Namespace)
    _accessors: dict[tuple[str, ...], str] = field(default_factory=dict)

    def new_slot(self) -> int:
        self.slots += 1
        return self.slots - 1

    def accessor(self, key: tuple[str, ...], factory: Callable[[], Any]) -> str:
        """The namespace name of a shared object (a path reader, a function), made once."""
        name = self._accessors.get(key)
        if name is None:
            name = self.ns.add(factory(), "P")
            self._accessors[key] = name
        return name

    def value_at(self, path: DataPath) -> Any:
        """The YAML value written at ``path`` (None when there is none)."""
        value: Any = self.doc.data
        for part in path:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and isinstance(part, int) and part < len(value):
                value = value[part]
            else:
                return None
        return value

    def position(self, path: DataPath, offset: int | None = None) -> Position:
        """Line and column of ``path``; ``offset`` indexes the scalar's text (when written on
        one line, plain or quoted; otherwise the scalar's start is given)."""
        line, col = self.doc.position(path)
        value = self.value_at(path)
        if offset is None or not isinstance(value, str):
            return line, col
        lines = self.doc.text.splitlines()
        source = lines[line - 1][col - 1 :] if line <= len(lines) else ""
        for shift in (0, 1):
            if source[shift:].startswith(value):
                return line, col + shift + offset
        return line, col

    def error(self, path: DataPath, code: str, message: str, offset: int | None = None) -> None:
        self.doc.add(self.position(path, offset), "error", code, message)

    def warning(self, path: DataPath, code: str, message: str) -> None:
        self.doc.add(self.position(path), "warning", code, message)

    def unknown_name(
        self, path: DataPath, offset: int, kind: str, name: str, known: list[str]
    ) -> None:
        message = f"unknown {kind} {name!r}{did_you_mean(name, known)}"
        self.error(path, f"unknown-{kind}", message, offset)


__all__ = ["Env", "Scope", "VarInfo", "dotted"]
