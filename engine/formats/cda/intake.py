"""What a document intake channel (directory, HTTP) checks before it commits a document.

:func:`examine` is pure: it never stores anything. ``format`` says how much to check:

* ``cda``: safe XML parse (size limit, no DTD/entities, no network) and a CDA R2 document
  (``ClinicalDocument``, possibly auto-presentable) with a body; the metadata gets the
  patient-free header facts (``cda.id``, ``cda.type_code``, ``cda.level``...);
* ``xml``: safe XML parse only;
* ``raw``: the size limit only.

An optional XSD (``schema``) turns an invalid CDA into a refusal too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from engine.errors import DocumentError
from engine.formats.cda.reader import read_cda
from engine.formats.cda.safe_xml import check_size, parse_xml
from engine.formats.cda.schema import validate

Format = Literal["cda", "xml", "raw"]


def examine(
    raw: bytes, *, format: Format, max_bytes: int, schema: Path | None = None
) -> dict[str, str]:
    """Check ``raw`` and return the metadata facts to store with it.

    Raises:
        DocumentError: the document is refused (``kind``: oversize, attack, malformed,
            not-cda, invalid); the message is patient-free and fit for the sender.
    """
    if format == "raw":
        check_size(raw, max_bytes)
        return {}
    if format == "xml":
        parse_xml(raw, max_bytes=max_bytes)
        return {}
    document = read_cda(raw, max_bytes=max_bytes)
    if schema is not None and document.element is not None:
        problems = validate(document.element, schema)
        if problems:
            raise DocumentError(f"not valid against {schema.name}: {problems[0]}", kind="invalid")
    return document.metadata()


__all__ = ["Format", "examine"]
