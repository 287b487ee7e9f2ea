"""Built-in functions for numbers, deterministic identifiers, search URLs and code tables.

``hash`` and ``uuid`` are deterministic: the same parts always give the same result, in
every process and version, so a redelivered message updates the resource it created
instead of adding one. Parts are joined with the unit separator (U+001F) before hashing;
an empty part makes the result empty (an identifier is never built from missing data).
"""

from __future__ import annotations

import hashlib
import re
import uuid as _uuid
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from engine.mapping.functions import builtin
from engine.mapping.tables import CodeTable
from engine.mapping.values import ANY, BOOL, NUMBER, FunctionFailure, to_number, to_text

#: Namespace of :func:`uuid` (uuid5 of the URL below in the URL namespace). Never change it:
#: every deterministic ``urn:uuid`` produced so far depends on it.
NAMESPACE = _uuid.uuid5(_uuid.NAMESPACE_URL, "https://passerelle.invalid/mapping/uuid")
_NAMESPACE_BYTES = NAMESPACE.bytes
_SEPARATOR = "\x1f"
_OID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
_FINESS = re.compile(r"^[0-9]{9}$")
#: ANS root for structures: ``1.2.250.1.71.4.2.2.<FINESS>`` scopes a facility's identifiers.
FINESS_ROOT = "1.2.250.1.71.4.2.2"
_SAFE = ":/.-_~@"


def _key(parts: tuple[Any, ...]) -> str | None:
    texts = []
    for part in parts:
        text = part if type(part) is str else to_text(part)
        if not text:
            return None
        texts.append(text)
    return _SEPARATOR.join(texts) if texts else None


@builtin("hash", "*parts: any")
def hash_(*parts: Any) -> str:
    """32 hexadecimal characters (SHA-256) of the parts: a stable FHIR ``id``."""
    key = _key(parts)
    return "" if key is None else hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@builtin("uuid", "*parts: any")
def uuid(*parts: Any) -> str:
    """A name-based UUID (version 5) of the parts, for ``urn:uuid:`` full URLs.

    Same result as ``uuid.uuid5(NAMESPACE, parts joined by U+001F)``, computed directly.
    """
    key = _key(parts)
    if key is None:
        return ""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + key.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@builtin("url_encode", "value: text")
def url_encode(value: str) -> str:
    """The text percent-encoded for a URL query (``:/.-_~@`` are kept)."""
    return quote(value, safe=_SAFE)


@builtin("search_token", "system: text, value: text")
def search_token(system: str, value: str) -> str:
    """``system|value`` for a FHIR token search (``Patient?identifier=…``), URL-encoded.

    Empty when ``value`` is empty; ``value`` alone when ``system`` is empty.
    """
    if not value:
        return ""
    encoded = quote(value, safe=_SAFE)
    return f"{quote(system, safe=_SAFE)}|{encoded}" if system else encoded


@builtin("authority_system", "universal_id: text, universal_id_type: text")
def authority_system(universal_id: str, universal_id_type: str) -> str:
    """The FHIR ``system`` of an HL7 assigning authority (HD components 2 and 3).

    An OID gives ``urn:oid:<OID>``; a 9-digit FINESS gives ``urn:oid:1.2.250.1.71.4.2.2.
    <FINESS>`` (the ANS convention for identifiers scoped by a facility); a ``URI``/``URL``
    type gives the identifier itself; anything else gives nothing (map it with a table).
    """
    uid = universal_id.strip()
    if _OID.match(uid):
        return f"urn:oid:{uid}"
    if _FINESS.match(uid):
        return f"urn:oid:{FINESS_ROOT}.{uid}"
    if universal_id_type.strip().upper() in ("URI", "URL") and ":" in uid:
        return uid
    return ""


@builtin("number", "value: text", returns=NUMBER)
def number(value: str) -> int | Decimal | None:
    """A decimal number from a text (``7.20`` keeps two decimals); empty stays empty."""
    return to_number(value)


@builtin("integer", "value: text", returns=NUMBER)
def integer(value: str) -> int | None:
    """A whole number from a text; a decimal text is an error."""
    found = to_number(value)
    if found is None:
        return None
    if isinstance(found, Decimal) and found != found.to_integral_value():
        raise FunctionFailure("the value is not a whole number")
    return int(found)


@builtin("lookup", "table: table, code: text, column?: column", returns=ANY)
def lookup(table: CodeTable, code: str, column: str | None = None) -> Any:
    """The value of ``code`` in a code table (one column of it when given).

    A code not in the table gives the table's ``default``, else nothing, else an error when
    the table says ``unknown: error``.
    """
    return table.get(code, column)


@builtin("in_table", "table: table, code: text", returns=BOOL)
def in_table(table: CodeTable, code: str) -> bool:
    """True when ``code`` is a row of the table."""
    return table.has(code)


__all__ = ["FINESS_ROOT", "NAMESPACE"]
