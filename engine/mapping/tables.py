"""Code tables: ``mappings/tables/<name>.yaml``, looked up by maps with ``lookup('name', code)``.

Two layouts are read:

* **documented** (recommended) -- metadata and a ``rows`` mapping::

      table: sex                   # optional; must equal the file name
      description: PID-8 → FHIR administrative-gender
      source: HL7 table 0001, PAM-FR §6.6.5
      columns: [gender]            # optional; rows are then mappings of these columns
      unknown: empty               # a code not in rows: empty (default) or error
      default: unknown             # optional: the value for codes not in rows
      rows:
        F: female
        M: male

* **flat** -- the file is the ``rows`` mapping itself (``code: value``).

Codes are always the text written in the file (``"01"``, ``NO`` and ``ON`` stay texts).
Values keep their YAML type (quote codes that look like numbers or booleans), except dates,
which stay as written. A value may be a mapping: its keys are then the table's columns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from engine.config.diagnostics import Diagnostic, did_you_mean
from engine.config.document import Document, parse_document
from engine.mapping.values import FunctionFailure

_META = ("table", "description", "source", "columns", "unknown", "default", "rows")
_MISSING: Any = object()


@dataclass
class CodeTable:
    """One loaded table. ``columns`` is empty when each code maps to a single value."""

    name: str
    file: str
    rows: dict[str, Any]
    columns: tuple[str, ...] = ()
    default: Any = _MISSING
    unknown: str = "empty"
    description: str = ""
    _column_cache: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def has(self, code: str) -> bool:
        return code in self.rows

    def get(self, code: str, column: str | None = None) -> Any:
        """The value for ``code`` (one column of it when given).

        Raises:
            FunctionFailure: the code is not in the table, there is no default and the table
                says ``unknown: error``; or a column is needed and none was given.
        """
        if not code:
            return None
        row = self.rows.get(code, _MISSING)
        if row is _MISSING:
            if self.default is not _MISSING:
                row = self.default
            elif self.unknown == "error":
                raise FunctionFailure(f"the code is not in table {self.name!r}")
            else:
                return None
        if column is None:
            if isinstance(row, dict) and self.columns:
                raise FunctionFailure(f"table {self.name!r} has columns: name one")
            return row
        return row.get(column) if isinstance(row, dict) else None


def _plain(value: Any, doc: Document, path: tuple[str | int, ...]) -> Any:
    if isinstance(value, date | datetime):
        return doc.scalar_text.get(path, value.isoformat())
    if isinstance(value, dict):
        return {k: _plain(v, doc, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, doc, (*path, i)) for i, v in enumerate(value)]
    return value


def load_table(path: Path, name: str) -> tuple[CodeTable | None, list[Diagnostic]]:
    """Read and check one table file; never raises for bad content."""
    file = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return None, [Diagnostic(file, 1, 1, "error", "io-error", f"cannot read {file}: {reason}")]
    doc = parse_document(text, file, os.environ)
    data = doc.data
    if not isinstance(data, dict):
        if not doc.diagnostics:
            doc.error((), "invalid-table", "a table is a mapping of codes (or has 'rows:')")
        return None, doc.diagnostics
    documented = isinstance(data.get("rows"), dict)
    table = CodeTable(name=name, file=file, rows={})
    base: tuple[str | int, ...] = ("rows",) if documented else ()
    rows = data["rows"] if documented else data
    if documented:
        _read_meta(doc, data, table)
    table.rows = {str(code): _plain(value, doc, (*base, code)) for code, value in rows.items()}
    if table.columns:
        for code, value in table.rows.items():
            if not isinstance(value, dict):
                message = f"row {code!r} must be a mapping of the columns {list(table.columns)}"
                doc.error((*base, code), "invalid-table", message)
                continue
            for column in value:
                if column not in table.columns:
                    hint = did_you_mean(column, table.columns)
                    message = f"row {code!r}: unknown column {column!r}{hint}"
                    doc.error((*base, code, column), "invalid-table", message, key=True)
    elif any(isinstance(v, dict) for v in table.rows.values()):
        found = {k for v in table.rows.values() if isinstance(v, dict) for k in v}
        table.columns = tuple(sorted(found))
    errors = [d for d in doc.diagnostics if d.is_error]
    return (None if errors else table), doc.diagnostics


def _read_meta(doc: Document, data: dict[str, Any], table: CodeTable) -> None:
    for key in data:
        if key not in _META:
            message = f"unknown key {key!r} in a table{did_you_mean(key, _META)}"
            doc.error((key,), "unknown-key", message, key=True)
    declared = data.get("table")
    if declared is not None and declared != table.name:
        message = f"the table is named {declared!r} but its file says {table.name!r}"
        doc.error(("table",), "invalid-table", message)
    columns = data.get("columns")
    if columns is not None:
        if isinstance(columns, list) and all(isinstance(c, str) for c in columns) and columns:
            table.columns = tuple(columns)
        else:
            doc.error(("columns",), "invalid-table", "columns must be a list of names")
    unknown = data.get("unknown", "empty")
    if unknown not in ("empty", "error"):
        doc.error(("unknown",), "invalid-value", "unknown must be 'empty' or 'error'")
    else:
        table.unknown = unknown
    if "default" in data:
        table.default = _plain(data["default"], doc, ("default",))
    table.description = str(data.get("description") or "")


class TableLoader:
    """Loads tables from one directory, once each; remembers their diagnostics."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._tables: dict[str, tuple[CodeTable | None, list[Diagnostic]]] = {}

    def known(self) -> list[str]:
        """Names of the table files in the directory."""
        try:
            return sorted(p.stem for p in self.directory.glob("*.yaml"))
        except OSError:
            return []

    def load(self, name: str) -> tuple[CodeTable | None, list[Diagnostic], bool]:
        """(table, its diagnostics, whether the file exists)."""
        path = self.directory / f"{name}.yaml"
        if not path.is_file():
            return None, [], False
        if name not in self._tables:
            self._tables[name] = load_table(path, name)
        table, diagnostics = self._tables[name]
        return table, diagnostics, True


__all__ = ["CodeTable", "TableLoader", "load_table"]
