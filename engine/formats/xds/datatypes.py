"""HL7v2 data types as XDS writes them: CX, XCN, XON, CE text, and UTC DTM times.

French conventions (CI-SIS, DMP): professionals are identified under
``1.2.250.1.71.4.2.1`` with identifier type ``IDNPS``, organisations under
``1.2.250.1.71.4.2.2`` with type ``IDNST``. HL7 delimiters inside names are replaced by
spaces so that a value can never change the structure of the field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from engine.formats.cda.model import Actor, Code, Identifier, Organization

PS_ROOT = "1.2.250.1.71.4.2.1"
ST_ROOT = "1.2.250.1.71.4.2.2"
_DELIMITERS = re.compile(r"[|^~\\&\r\n]+")
_TS = re.compile(r"^(\d{4,14})(?:\.\d+)?(?:([+-])(\d{2})(\d{2}))?$")


def clean(value: str) -> str:
    """``value`` with HL7 delimiters (``| ^ ~ \\ &``) and line breaks made spaces."""
    return " ".join(_DELIMITERS.sub(" ", value).split())


def cx(identifier: Identifier, type_code: str = "") -> str:
    """``extension^^^&root&ISO[^type]``."""
    suffix = f"^{type_code}" if type_code else ""
    return f"{clean(identifier.extension)}^^^&{identifier.root}&ISO{suffix}"


def xcn(actor: Actor) -> str:
    """A person as XCN: ``id^family^given^other given^suffix^prefix^^^&oid&ISO^D^^^IDNPS``.

    Returns "" for an actor with neither identifier nor name.
    """
    ident = actor.ids[0] if actor.ids else None
    name = actor.name
    if ident is None and (name is None or not name.family):
        return ""
    family = clean(name.family) if name else ""
    given = [clean(g) for g in name.given] if name else []
    first, others = (given[0], " ".join(given[1:])) if given else ("", "")
    suffix = clean(name.suffix) if name else ""
    prefix = clean(name.prefix) if name else ""
    value = f"{clean(ident.extension) if ident else ''}^{family}^{first}^{others}^{suffix}^{prefix}"
    if ident is not None:
        kind = "IDNPS" if ident.root == PS_ROOT else ""
        value += f"^^^&{ident.root}&ISO^D^^^{kind}"
    return value.rstrip("^")


def xon(organization: Organization) -> str:
    """An organisation as XON: ``name^^^^^&oid&ISO^IDNST^^^id`` (name only without id)."""
    name = clean(organization.name)
    ident = organization.ids[0] if organization.ids else None
    if ident is None:
        return name
    kind = "IDNST" if ident.root == ST_ROOT else ""
    return f"{name}^^^^^&{ident.root}&ISO^{kind}^^^{clean(ident.extension)}"


def ce(code: Code) -> str:
    """A code as CE text: ``code^display^system``."""
    return f"{clean(code.code)}^{clean(code.display)}^{code.system}"


def utc_dtm(ts: str) -> str:
    """An HL7 TS (``20191203133000+0100``) as an XDS DTM in UTC (``20191203123000``).

    The precision of the input is kept. A time without an offset is returned unchanged
    (it cannot be converted); a date alone needs no conversion. Returns "" for "".

    Raises:
        ValueError: ``ts`` is not an HL7 TS.
    """
    if not ts:
        return ""
    m = _TS.match(ts.strip())
    if m is None or len(m.group(1)) % 2:
        raise ValueError("not an HL7 TS (YYYY[MM[DD[HH[MM[SS]]]]][+/-ZZZZ])")
    digits, sign, hours, minutes = m.groups()
    if sign is None or len(digits) < 10:
        return digits
    padded = (digits + "0101000000"[len(digits) - 4 :])[:14] if len(digits) < 14 else digits
    local = datetime.strptime(padded, "%Y%m%d%H%M%S")
    offset = timedelta(hours=int(hours), minutes=int(minutes)) * (1 if sign == "+" else -1)
    utc = local.replace(tzinfo=timezone(offset)).astimezone(UTC)
    return utc.strftime("%Y%m%d%H%M%S")[: len(digits)]


__all__ = ["PS_ROOT", "ST_ROOT", "ce", "clean", "cx", "utc_dtm", "xcn", "xon"]
