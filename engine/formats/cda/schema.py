"""Optional XSD validation against a schema kit on disk (e.g. the ANS ``CDA_extended.xsd``).

A compiled schema is cached per resolved file path for the life of the process (compiling
the ANS kit takes tens of milliseconds; validating a document, about a millisecond per
100 KB). Schema files are read with network access disabled; their ``xs:include`` and
``xs:import`` resolve relative to the schema file.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from lxml import etree

from engine.errors import ConfigError

MAX_ERRORS = 20
_lock = threading.Lock()


@lru_cache(maxsize=16)
def _compile(path: str) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        return etree.XMLSchema(etree.parse(path, parser))
    except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise ConfigError(f"cannot load the XML schema {path}: {exc}") from exc


def load_schema(path: str | Path) -> etree.XMLSchema:
    """The compiled schema of ``path`` (cached).

    Raises:
        ConfigError: the file is missing or is not a usable XSD.
    """
    resolved = str(Path(path).resolve())
    with _lock:  # lxml schema compilation is not re-entrant across threads
        return _compile(resolved)


def validate(element: etree._Element, schema: str | Path | etree.XMLSchema) -> list[str]:
    """Validate ``element`` (as a document root); return at most MAX_ERRORS messages.

    Messages carry the line and the libxml2 text (element and type names, no content);
    an empty list means valid.

    Raises:
        ConfigError: the schema cannot be loaded.
    """
    compiled = schema if isinstance(schema, etree.XMLSchema) else load_schema(schema)
    tree = element.getroottree()
    target: etree._Element | etree._ElementTree = tree if tree.getroot() is element else element
    # XMLSchema objects keep an error log: validate under the lock, copy the log out.
    with _lock:
        if compiled.validate(target):
            return []
        log: Iterable[Any] = cast(Iterable[Any], compiled.error_log)
        entries = list(log)[:MAX_ERRORS]
    return [f"line {e.line}: {e.message}" for e in entries]


__all__ = ["MAX_ERRORS", "load_schema", "validate"]
