"""INS (Identifiant National de Santé) in PID-3, the NIR check key, and identity status.

* An INS is a PID-3 repetition whose CX-5 is ``INS`` and whose assigning authority OID
  (CX-4.2) is one of :data:`INS_OIDS`: INS-NIR ``1.2.250.1.213.1.4.8``, INS-NIA ``.9``,
  test INS-NIR ``.10``, demo INS-NIR ``.11``. The same OID with CX-5 ``NH`` is the
  social-security number used for billing, not an INS.
* NIR check key: ``97 - (N mod 97)`` over the 13-character body, Corsica ``2A`` -> ``19``
  and ``2B`` -> ``18`` (as the CNAM library does).
* Identity status: PID-32, PAM-FR table 0445; extra repetitions may carry an attribute
  (``HOMA``, ``FICT``, ``DOUT``), e.g. ``PROV~FICT``.
* PAM-FR §6.6.15: a message carrying an INS whose PID-32 has no ``VALI`` is integrated
  **without the INS** -- :func:`integrate_identity` applies the rule and says why.

INS values are patient data: they are returned to callers but never put in facts, texts
or logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from engine.formats.hl7v2.message import Message
from engine.formats.hl7v2.segment import Segment

INS_NIR_OID = "1.2.250.1.213.1.4.8"
INS_NIA_OID = "1.2.250.1.213.1.4.9"
INS_NIR_TEST_OID = "1.2.250.1.213.1.4.10"
INS_NIR_DEMO_OID = "1.2.250.1.213.1.4.11"
INS_TYPE = "INS"
"""CX-5 identifier type code of an INS (French table 0203)."""
HL7_NULL = '""'
"""The HL7 explicit null: in an A47, an INS repetition ``""`` removes the patient's INS."""


class InsKind(StrEnum):
    NIR = "nir"
    NIA = "nia"
    NONE = "none"


INS_OIDS: Mapping[str, tuple[InsKind, bool]] = MappingProxyType(
    {
        INS_NIR_OID: (InsKind.NIR, False),
        INS_NIA_OID: (InsKind.NIA, False),
        INS_NIR_TEST_OID: (InsKind.NIR, True),
        INS_NIR_DEMO_OID: (InsKind.NIR, True),
    }
)
"""OID -> (kind, test-or-demo). There is no INS-NIA test OID."""

IDENTITY_STATUSES = (
    "VIDE", "PROV", "VALI", "DOUB", "DESA", "DPOT", "DOUA", "COLP", "COLV", "FILI", "CACH",
    "ANOM", "IDVER", "RECD", "IDRA", "USUR", "HOMD", "HOMA", "INVA", "FICT", "DOUT",
)  # fmt: skip
"""PAM-FR table 0445 (PID-32)."""
IDENTITY_ATTRIBUTES = ("HOMA", "FICT", "DOUT")
"""Table 0445 values that qualify an identity (homonym, fictitious, doubtful), not a status."""
QUALIFIED_STATUS = "VALI"

_NIR_FORMAT = re.compile(r"[0-9]{5}(?:[0-9]{2}|2[AB])[0-9]{8}", re.IGNORECASE)
_CORSICA = (("2A", "19"), ("2B", "18"))


def nir_key(body: str) -> int:
    """The check key (1..97) of a 13-character NIR/NIA body; spaces are ignored.

    Raises:
        ValueError: the body is not 13 digits (``2A``/``2B`` allowed).
    """
    s = body.replace(" ", "").upper()
    for letters, digits in _CORSICA:
        s = s.replace(letters, digits)
    if len(s) != 13 or not s.isascii() or not s.isdigit():
        raise ValueError("a NIR body is 13 digits (2A/2B allowed for Corsica)")
    return 97 - int(s) % 97


def is_valid_nir(value: str) -> bool:
    """True when ``value`` is 15 characters (13-character body + 2-digit key, spaces
    ignored, ``2A``/``2B`` only as department) and the key matches the body."""
    s = value.replace(" ", "")
    if _NIR_FORMAT.fullmatch(s) is None:
        return False
    return nir_key(s[:13]) == int(s[13:])


@dataclass(frozen=True, slots=True)
class InsIdentifier:
    """An INS found in PID-3 (``value`` is patient data: never log it)."""

    value: str
    oid: str
    kind: InsKind
    test: bool
    repetition: int

    @property
    def null(self) -> bool:
        """The HL7 null ``""`` (INS removal in an A47)."""
        return self.value == HL7_NULL

    @property
    def key_valid(self) -> bool:
        return not self.null and is_valid_nir(self.value)


def ins_of(segment: Segment, field: int) -> tuple[InsIdentifier, ...]:
    """The INS repetitions of a CX field (PID-3, MRG-1), in order."""
    found: list[InsIdentifier] = []
    for rep in range(1, len(segment.repetitions(field)) + 1):
        if segment.get(field, rep, 5) != INS_TYPE:
            continue
        oid = segment.get(field, rep, 4, 2)
        known = INS_OIDS.get(oid)
        if known is not None:
            found.append(InsIdentifier(segment.get(field, rep, 1), oid, *known, rep))
    return tuple(found)


def ins_identifiers(message: Message) -> tuple[InsIdentifier, ...]:
    """The INS repetitions of the first PID-3."""
    pid = message.segment("PID")
    return () if pid is None else ins_of(pid, 3)


def preferred_ins(found: tuple[InsIdentifier, ...]) -> InsIdentifier | None:
    """The INS a receiver keeps: the NIR when both a NIR and a NIA are sent (PAM-FR
    §4.4.1), else the first; nulls are not INS values."""
    values = [i for i in found if not i.null and i.value]
    nir = [i for i in values if i.kind is InsKind.NIR]
    return (nir or values)[0] if values else None


@dataclass(frozen=True, slots=True)
class IdentityStatus:
    """PID-32: the status, its attributes, and every repetition as sent (for audit)."""

    status: str
    attributes: tuple[str, ...]
    raw: tuple[str, ...]

    @property
    def qualified(self) -> bool:
        """True when PID-32 contains ``VALI`` (in PAM-FR: the identity is qualified)."""
        return QUALIFIED_STATUS in self.raw


def identity_status(message: Message) -> IdentityStatus:
    """PID-32 of the first PID (empty status when absent)."""
    pid = message.segment("PID")
    if pid is None:
        return IdentityStatus("", (), ())
    n = len(pid.repetitions(32))
    raw = tuple(v for v in (pid.get(32, r) for r in range(1, n + 1)) if v and v != HL7_NULL)
    statuses = [v for v in raw if v not in IDENTITY_ATTRIBUTES]
    attributes = tuple(v for v in raw if v in IDENTITY_ATTRIBUTES)
    return IdentityStatus(statuses[0] if statuses else "", attributes, raw)


RULE_NO_VALI = "INS received but PID-32 has no VALI: integrated without the INS (PAM-FR 6.6.15)"


@dataclass(frozen=True, slots=True)
class IntegratedIdentity:
    """The identity as it must be integrated.

    Attributes:
        received: the INS the message carries (NIR preferred), None when there is none.
        ins: the INS to integrate: ``received``, or None when the rule dropped it.
        status: PID-32.
        dropped_reason: why ``received`` is not integrated ("" when it is, or is absent).
    """

    received: InsIdentifier | None
    ins: InsIdentifier | None
    status: IdentityStatus
    dropped_reason: str = ""

    @property
    def dropped(self) -> bool:
        return bool(self.dropped_reason)

    @property
    def qualified(self) -> bool:
        """An INS is integrated, its key is valid and PID-32 contains VALI."""
        return self.ins is not None and self.ins.key_valid and self.status.qualified


def integrate_identity(message: Message) -> IntegratedIdentity:
    """Apply PAM-FR §6.6.15 to the first PID: an INS without VALI is not integrated."""
    received = preferred_ins(ins_identifiers(message))
    status = identity_status(message)
    if received is not None and not status.qualified:
        return IntegratedIdentity(received, None, status, RULE_NO_VALI)
    return IntegratedIdentity(received, received, status)


__all__ = [
    "HL7_NULL",
    "IDENTITY_ATTRIBUTES",
    "IDENTITY_STATUSES",
    "INS_NIA_OID",
    "INS_NIR_DEMO_OID",
    "INS_NIR_OID",
    "INS_NIR_TEST_OID",
    "INS_OIDS",
    "INS_TYPE",
    "QUALIFIED_STATUS",
    "RULE_NO_VALI",
    "IdentityStatus",
    "InsIdentifier",
    "InsKind",
    "IntegratedIdentity",
    "identity_status",
    "ins_identifiers",
    "ins_of",
    "integrate_identity",
    "is_valid_nir",
    "nir_key",
    "preferred_ins",
]
