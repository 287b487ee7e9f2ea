"""INS (Identifiant National de Santé): OIDs, kinds and the NIR key check.

The key of a 15-character INS matricule is ``97 - (N mod 97)`` where ``N`` is the
13-character body read as an integer, Corsica departments ``2A``/``2B`` counting as
``19``/``18`` (CNAM rule). Values are never logged or put in error messages by this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class InsKind(StrEnum):
    """The INS flavour, from the OID of the identifier."""

    NIR = "INS-NIR"
    NIA = "INS-NIA"
    NIR_TEST = "INS-NIR-TEST"
    NIR_DEMO = "INS-NIR-DEMO"


INS_NIR = "1.2.250.1.213.1.4.8"
INS_NIA = "1.2.250.1.213.1.4.9"
INS_NIR_TEST = "1.2.250.1.213.1.4.10"
INS_NIR_DEMO = "1.2.250.1.213.1.4.11"

INS_OIDS: dict[str, InsKind] = {
    INS_NIR: InsKind.NIR,
    INS_NIA: InsKind.NIA,
    INS_NIR_TEST: InsKind.NIR_TEST,
    INS_NIR_DEMO: InsKind.NIR_DEMO,
}
"""OID → kind; an identifier under one of these roots is an INS."""

_FORMAT = re.compile(r"^[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{6}[0-9]{2}$", re.IGNORECASE)


def nir_key(body13: str) -> int:
    """Key of a 13-character NIR body (``2A``→``19``, ``2B``→``18`` at the department).

    Raises:
        ValueError: the body is not 13 characters of digits (Corsica letters allowed).
    """
    body = body13.replace(" ", "").upper()
    if len(body) != 13:
        raise ValueError("a NIR body has 13 characters")
    if body[5:7] == "2A":
        body = body[:5] + "19" + body[7:]
    elif body[5:7] == "2B":
        body = body[:5] + "18" + body[7:]
    if not body.isdigit():
        raise ValueError("a NIR body has digits only (and 2A/2B)")
    return 97 - (int(body) % 97)


def well_formed(value: str) -> bool:
    """True when ``value`` has the shape of a 15-character INS matricule (key not checked)."""
    return bool(_FORMAT.match(value.replace(" ", "")))


def key_valid(value: str) -> bool:
    """True when ``value`` is a well-formed 15-character matricule with the right key."""
    compact = value.replace(" ", "").upper()
    if not well_formed(compact):
        return False
    return nir_key(compact[:13]) == int(compact[13:])


@dataclass(frozen=True, slots=True)
class Ins:
    """An INS found in a document or message.

    Attributes:
        value: the 15-character matricule as written (never log it).
        oid: the assigning authority OID (``1.2.250.1.213.1.4.8`` ...).
        kind: NIR, NIA, test or demo.
        well_formed: 15 characters of the right shape.
        key_ok: the NIR key matches.
    """

    value: str
    oid: str
    kind: InsKind
    well_formed: bool
    key_ok: bool

    @classmethod
    def of(cls, value: str, oid: str) -> Ins | None:
        """The INS for an identifier, or None when ``oid`` is not an INS OID."""
        kind = INS_OIDS.get(oid)
        if kind is None:
            return None
        return cls(value, oid, kind, well_formed(value), key_valid(value))

    @property
    def cx(self) -> str:
        """The XDS/VIHF form: ``<value>^^^&<oid>&ISO^NH``."""
        return f"{self.value}^^^&{self.oid}&ISO^NH"


__all__ = [
    "INS_NIA",
    "INS_NIR",
    "INS_NIR_DEMO",
    "INS_NIR_TEST",
    "INS_OIDS",
    "Ins",
    "InsKind",
    "key_valid",
    "nir_key",
    "well_formed",
]
