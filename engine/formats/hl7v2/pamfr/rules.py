"""The field rules PAM-FR 2.11 sets on MSH, EVN, PID, PV1, MRG and the French segments.

Each :class:`FieldRule` gives a field's usage (``R`` required, ``X`` forbidden, ``O``
otherwise), its data type (``TS`` date/time, ``NM`` number) and its value set. Severity:
what PAM-FR states plainly is an error; what rests on a table that is partly unreadable in
the published PDF (ZFM-3/4, ZFP-2, ZFV-6/10), on an obsolete field, or on a field the
vendor feeds commonly fill although it is forbidden (PID-28...) is a warning.

Per-event rules (required segments, PID-18 in ITI-31, movement relations, INS) are in
:mod:`engine.formats.hl7v2.pamfr.validation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from engine.formats.hl7v2.pamfr import segments as z
from engine.formats.hl7v2.pamfr.findings import Severity
from engine.formats.hl7v2.pamfr.ins import IDENTITY_STATUSES

E, W = Severity.ERROR, Severity.WARNING
Usage = Literal["R", "O", "X"]
DataType = Literal["", "TS", "NM"]


@dataclass(frozen=True, slots=True)
class FieldRule:
    """Rules of one field (or of one component of it, for data type and value set).

    Attributes:
        field: field number.
        label: what the field holds, for finding texts (no value is ever quoted).
        usage: ``R`` missing is an error (101); ``X`` valued is a finding (198) of
            ``severity``; ``O`` no presence rule.
        datatype: checked on ``component`` of each checked repetition (102).
        values: the value set of ``component`` (103), empty for none.
        component: the component the data type and value set apply to.
        all_reps: check every repetition (else the first).
        severity: severity of data-type, value-set and forbidden-field findings.
        accepts: a value-set test for sets that are not a plain list (ZBE-9 combinations),
            with ``values_text`` saying what it accepts.
    """

    field: int
    label: str
    usage: Usage = "O"
    datatype: DataType = ""
    values: frozenset[str] = frozenset()
    component: int = 1
    all_reps: bool = False
    severity: Severity = E
    accepts: Callable[[str], bool] | None = None
    values_text: str = ""


def _r(field: int, label: str) -> FieldRule:
    return FieldRule(field, label, "R")


def _ts(field: int, label: str, usage: Usage = "O", component: int = 1) -> FieldRule:
    return FieldRule(field, label, usage, "TS", component=component)


def _set(
    field: int,
    label: str,
    values: tuple[str, ...],
    usage: Usage = "O",
    *,
    component: int = 1,
    all_reps: bool = False,
    severity: Severity = E,
) -> FieldRule:
    return FieldRule(field, label, usage, "", frozenset(values), component, all_reps, severity)


def _x(field: int, label: str, severity: Severity = E) -> FieldRule:
    return FieldRule(field, label, "X", severity=severity)


PATIENT_CLASSES = ("E", "I", "N", "O", "R", "V")
"""PV1-2 (PAM-FR §6.10.1)."""
SEXES = ("F", "M", "U")
"""PID-8 (``O`` was removed by CP IHE-CP-ITI-FR-2023-155)."""

SEGMENT_RULES: Mapping[str, tuple[FieldRule, ...]] = MappingProxyType(
    {
        "MSH": (_ts(7, "date/time of message", "R"),),
        "EVN": (
            _ts(2, "recorded date/time", "R"),
            _ts(3, "planned event date/time"),
            _ts(6, "event occurred date/time"),
        ),
        "PID": (
            _r(3, "patient identifier list"),
            _r(5, "patient name"),
            _ts(7, "date of birth"),
            _set(8, "administrative sex", SEXES),
            _ts(29, "death date/time"),
            _set(32, "identity reliability code", IDENTITY_STATUSES, all_reps=True),
            _ts(33, "last update date/time"),
            _x(10, "race is forbidden in France"),
            _x(17, "religion is forbidden in France"),
            _x(22, "ethnic group is forbidden in France"),
            *(
                _x(n, f"{label} is not used in PAM-FR", W)
                for n, label in (
                    (2, "patient id"),
                    (4, "alternate patient id"),
                    (9, "patient alias"),
                    (12, "county code"),
                    (19, "SSN number (use PID-3 type NH)"),
                    (20, "driver's license number"),
                    (28, "nationality"),
                )
            ),
        ),
        "PV1": (
            _set(2, "patient class", PATIENT_CLASSES, "R"),
            _ts(44, "admit date/time"),
            _ts(45, "discharge date/time"),
            _x(40, "bed status is not used in PAM-FR", W),
        ),
        "MRG": (_r(1, "prior patient identifier list"),),
        "ZBE": (
            _r(1, "movement identifier"),
            _ts(2, "movement start date/time", "R"),
            _x(3, "movement end date/time is forbidden in France"),
            _set(4, "movement action (INSERT, UPDATE, CANCEL)", z.MOVEMENT_ACTIONS, "R"),
            _set(5, "historic movement indicator (Y or N)", z.YES_NO, "R"),
            _set(7, "medical unit id type (UF)", ("UF",), component=7, severity=W),
            _set(8, "care unit id type (UF)", ("UF",), component=7, severity=W),
            FieldRule(
                9,
                "movement nature",
                "R",
                accepts=lambda v: bool(z.movement_nature(v)),
                values_text="a combination of S, H, M, L, D listed by PAM-FR (SM, SH, MH, LD,"
                " HMS, in any letter order), optionally with C, or C alone",
            ),
        ),
        "ZFA": (
            _set(1, "DMP status", z.DMP_STATUSES),
            _ts(2, "DMP status date"),
            _ts(3, "DMP closing date"),
            *(_x(n, "this obsolete DMP field is not used", W) for n in range(4, 9)),
            _set(9, "information and opposition to DMP feeding", z.DMP_FEEDING),
            _ts(10, "date of the opposition information"),
            _set(11, "information and consent to DMP consultation", z.DMP_CONSULTATION),
            _ts(12, "date of the consultation consent"),
        ),
        "ZFP": (
            _set(1, "socio-professional activity", z.SOCIO_PROFESSIONAL_ACTIVITIES),
            _set(2, "socio-professional category", z.SOCIO_PROFESSIONAL_CATEGORIES, severity=W),
        ),
        "ZFV": (
            _ts(1, "date in the origin facility", component=2),
            _x(3, "pre-admission type is not used", W),
            _ts(4, "psychiatric placement start"),
            _ts(5, "psychiatric placement end"),
            _set(6, "address type", z.ADDRESS_TYPES, component=7, all_reps=True, severity=W),
            _set(10, "RIM-P legal care mode", z.RIMP_LEGAL_MODES, severity=W),
            _set(11, "care during transport", z.TRANSPORT_CARE),
        ),
        "ZFM": (
            _set(1, "PMSI entry mode", z.PMSI_ENTRY_MODES),
            _set(2, "PMSI exit mode", z.PMSI_EXIT_MODES),
            _set(3, "PMSI origin", z.PMSI_ORIGINS, severity=W),
            _set(4, "PMSI destination", tuple(v for v in z.PMSI_ORIGINS if v != "5"), severity=W),
            _set(5, "passage through an emergency unit", z.PMSI_EMERGENCY),
        ),
        "ZFD": (
            *(FieldRule(1, "lunar date", datatype="NM", component=c) for c in (1, 2, 3)),
            FieldRule(2, "weeks of gestation", datatype="NM"),
            _set(3, "SMS consent (Y or N)", z.YES_NO),
            _set(4, "birth date corrected after INSi (Y or N)", z.YES_NO),
            _set(5, "identity acquisition mode", z.IDENTITY_ACQUISITION_MODES),
            _ts(6, "date of the INSi query"),
            _set(7, "identity document type", z.IDENTITY_DOCUMENT_TYPES),
            _ts(8, "identity document expiry date"),
        ),
        "ZFS": (
            _r(1, "set id"),
            _r(2, "legal care mode identifier"),
            _ts(3, "legal care mode start", "R"),
            _ts(4, "legal care mode end"),
            _set(5, "legal care mode action", z.MOVEMENT_ACTIONS, "R"),
            _set(6, "legal care mode", z.PSY_LEGAL_MODES, "R"),
        ),
    }
)
"""Field rules by segment id; every occurrence of the segment is checked."""

SINGLE_SEGMENTS = ("EVN", "PV1", "ZBE", "ZFA", "ZFP", "ZFV", "ZFM", "ZFD")
"""Segments that occur at most once in a PAM-FR ADT message (PID and MRG repeat in A40)."""

__all__ = [
    "PATIENT_CLASSES",
    "SEGMENT_RULES",
    "SEXES",
    "SINGLE_SEGMENTS",
    "DataType",
    "FieldRule",
    "Usage",
]
