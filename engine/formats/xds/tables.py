"""The French XDS value sets and correspondence tables, read from ``mappings/tables/xds_*.yaml``.

Each file maps a key to ``{display, system}`` (a value set: the key is the code) or to
``{code, display, system}`` (a correspondence: typeCode → classCode, templateId →
formatCode). Tables are data: the code never embeds a code list. A directory is read once
per process and cached.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import yaml

from engine.errors import ConfigError
from engine.formats.xds.model import CodedValue

DEFAULT_TABLES_DIR = Path(__file__).resolve().parents[3] / "mappings" / "tables"
PREFIX = "xds_"

CLASS_CODES = "class_codes"
TYPE_CODES = "type_codes"
FORMAT_CODES = "format_codes"
FACILITY_TYPES = "healthcare_facility_types"
PRACTICE_SETTINGS = "practice_settings"
CONFIDENTIALITY = "confidentiality_codes"
CONTENT_TYPES = "content_type_codes"
CLASS_BY_TYPE = "class_by_type"
FORMAT_BY_TEMPLATE = "format_by_template"
REQUIRED = (
    CLASS_CODES,
    TYPE_CODES,
    FORMAT_CODES,
    FACILITY_TYPES,
    PRACTICE_SETTINGS,
    CONFIDENTIALITY,
    CONTENT_TYPES,
    CLASS_BY_TYPE,
    FORMAT_BY_TEMPLATE,
)
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class XdsTables:
    """Every ``xds_*`` table of one directory: table name → key → coded value."""

    directory: Path
    tables: Mapping[str, Mapping[str, CodedValue]]

    def table(self, name: str) -> Mapping[str, CodedValue]:
        """One table. Raises ConfigError when the directory has no such file."""
        try:
            return self.tables[name]
        except KeyError:
            raise ConfigError(f"no table {PREFIX}{name}.yaml in {self.directory}") from None

    def get(self, name: str, key: str) -> CodedValue | None:
        """The entry for ``key`` in table ``name``, or None."""
        return self.table(name).get(key)

    def contains(self, name: str, value: CodedValue) -> bool:
        """True when ``value`` (code and coding scheme) is in value set ``name``."""
        entry = self.table(name).get(value.code)
        return entry is not None and entry.scheme == value.scheme


def _entry(key: str, raw: object, where: str) -> CodedValue:
    if not isinstance(raw, dict) or not isinstance(raw.get("system"), str):
        raise ConfigError(f"{where}: entry {key!r} needs a mapping with 'system' (and 'display')")
    return CodedValue(str(raw.get("code", key)), str(raw["system"]), str(raw.get("display", "")))


def _read(path: Path) -> Mapping[str, CodedValue]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the table {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a table is a mapping of code to {{display, system}}")
    return MappingProxyType({str(k): _entry(str(k), v, str(path)) for k, v in data.items()})


@lru_cache(maxsize=8)
def _load(directory: str) -> XdsTables:
    root = Path(directory)
    tables = {p.stem.removeprefix(PREFIX): _read(p) for p in sorted(root.glob(f"{PREFIX}*.yaml"))}
    missing = [name for name in REQUIRED if name not in tables]
    if missing:
        listed = ", ".join(f"{PREFIX}{m}.yaml" for m in missing)
        raise ConfigError(f"missing XDS table(s) in {root}: {listed}")
    return XdsTables(root, MappingProxyType(tables))


def load_tables(directory: str | Path | None = None) -> XdsTables:
    """The tables of ``directory`` (default: the project's ``mappings/tables``), cached.

    Raises:
        ConfigError: a required table is missing or a file is not a valid table.
    """
    path = Path(directory) if directory is not None else DEFAULT_TABLES_DIR
    with _lock:
        return _load(str(path.resolve()))


__all__ = [
    "CLASS_BY_TYPE",
    "CLASS_CODES",
    "CONFIDENTIALITY",
    "CONTENT_TYPES",
    "DEFAULT_TABLES_DIR",
    "FACILITY_TYPES",
    "FORMAT_BY_TEMPLATE",
    "FORMAT_CODES",
    "PRACTICE_SETTINGS",
    "TYPE_CODES",
    "XdsTables",
    "load_tables",
]
