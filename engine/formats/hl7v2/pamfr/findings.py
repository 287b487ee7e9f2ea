"""Validation findings and the HL7 v2.5 primitive data-type checks (TS, DT, NM).

A :class:`Finding` locates one problem (segment, occurrence, field, repetition, component),
carries the HL7 table 0357 code that fits it and a severity (``E`` error, ``W`` warning,
``I`` information, table 0516). Its text never holds a value read from the message, so
findings can go to logs, ACKs and envelope metadata without leaking patient data.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from engine.formats.hl7v2.ack import AckError

REQUIRED_MISSING = 101
DATA_TYPE = 102
TABLE_VALUE = 103
SEGMENT_SEQUENCE = 100
CARDINALITY = 198
"""Used for fields PAM-FR forbids (usage X: at most zero occurrences) and duplicates."""


class Severity(StrEnum):
    """HL7 table 0516."""

    ERROR = "E"
    WARNING = "W"
    INFO = "I"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in a message; ``text`` is patient-free by contract."""

    code: int
    text: str
    segment: str | None = None
    field: int | None = None
    severity: Severity = Severity.ERROR
    occurrence: int | None = None
    repetition: int | None = None
    component: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def location(self) -> str:
        """The path of the element, e.g. ``ZBE-4``, ``PID-3[2].4``, ``ZFS[2]-5`` ("" if none)."""
        if not self.segment:
            return ""
        out = self.segment + (f"[{self.occurrence}]" if self.occurrence else "")
        if self.field is None:
            return out
        out += f"-{self.field}" + (f"[{self.repetition}]" if self.repetition else "")
        return out + (f".{self.component}" if self.component else "")

    def ack_error(self, severity: Severity | None = None) -> AckError:
        """This finding as an ERR segment (``severity`` overrides the finding's own)."""
        where = self.location
        text = f"{where}: {self.text}" if where else self.text
        sev = (severity or self.severity).value
        return AckError(self.code, text, sev, segment=self.segment, field=self.field)

    def as_dict(self) -> dict[str, object]:
        """Compact form for the envelope metadata report (location, code, severity, text)."""
        sev = self.severity.value
        return {"at": self.location, "code": self.code, "sev": sev, "text": self.text}


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then warnings and information, each in message order (stable)."""
    rank = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return sorted(findings, key=lambda f: rank[f.severity])


def report_json(findings: Iterable[Finding], limit: int = 50) -> str:
    """A compact JSON list of at most ``limit`` findings (errors first)."""
    items = [f.as_dict() for f in sort_findings(findings)[:limit]]
    return json.dumps(items, ensure_ascii=False, separators=(",", ":"))


# -- primitive data types (HL7 v2.5 ch. 2A) -------------------------------------------------

_TS = re.compile(
    r"(?P<y>\d{4})(?:(?P<mo>\d{2})(?:(?P<d>\d{2})(?:(?P<h>\d{2})(?:(?P<mi>\d{2})"
    r"(?:(?P<s>\d{2})(?:\.\d{1,4})?)?)?)?)?)?(?P<tz>[+-]\d{4})?"
)
_NM = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def is_ts(value: str, *, date_only: bool = False) -> bool:
    """True for a valid DTM/TS first component (``YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]``);
    with ``date_only``, a DT (``YYYY[MM[DD]]``, no time, no offset)."""
    m = _TS.fullmatch(value)
    if m is None:
        return False
    if date_only and (m["h"] or m["tz"]):
        return False
    month, day = m["mo"], m["d"]
    if month and not 1 <= int(month) <= 12:
        return False
    if day and not 1 <= int(day) <= calendar.monthrange(int(m["y"]), int(month))[1]:
        return False
    if m["h"] and int(m["h"]) > 23:
        return False
    if (m["mi"] and int(m["mi"]) > 59) or (m["s"] and int(m["s"]) > 59):
        return False
    tz = m["tz"]
    return not tz or (int(tz[1:3]) <= 14 and int(tz[3:]) <= 59)


def is_nm(value: str) -> bool:
    """True for an HL7 NM (optional sign, digits, optional decimal point)."""
    return _NM.fullmatch(value) is not None


__all__ = [
    "CARDINALITY",
    "DATA_TYPE",
    "REQUIRED_MISSING",
    "SEGMENT_SEQUENCE",
    "TABLE_VALUE",
    "Finding",
    "Severity",
    "is_nm",
    "is_ts",
    "report_json",
    "sort_findings",
]
