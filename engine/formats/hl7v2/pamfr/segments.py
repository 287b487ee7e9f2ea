"""Typed, read-only views of the French segments ZBE, ZFA, ZFP, ZFV, ZFM, ZFD and ZFS.

A view wraps one :class:`~engine.formats.hl7v2.Segment` and reads a field each time an
attribute is accessed (nothing is copied up front). Values are unescaped primitives, ""
when absent. ``ZBE.of(message)`` returns the first ZBE or None; ``ZFS.all(message)``
every ZFS. Field numbers and value sets follow PAM-FR 2.11 §6.13-§6.19.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self, overload

from engine.formats.hl7v2.message import Message
from engine.formats.hl7v2.segment import Segment

# -- value sets ------------------------------------------------------------------------------

MOVEMENT_ACTIONS = ("INSERT", "UPDATE", "CANCEL")
"""ZBE-4 and ZFS-5."""
YES_NO = ("Y", "N")
"""HL7 table 0136 (ZBE-5, ZFD-3, ZFD-4)."""
MOVEMENT_NATURES = ("S", "H", "M", "L", "D", "SM", "SH", "MH", "LD", "HMS", "C")
"""ZBE-9 as PAM-FR's table spells it: S care unit, H housing unit, M medical unit, L bed, D
medico-administrative conditions, and their combinations; C = status change without a new
movement. The specification's own scenarios write the combinations in other orders (``HM``)
and combine C with them (``HMC``): see :func:`movement_nature`."""
_NATURE_SPELLING = {frozenset(v): v for v in MOVEMENT_NATURES if v != "C"}


def movement_nature(value: str) -> str:
    """ZBE-9 in the table's spelling, whatever the order of its letters (``HM`` → ``MH``),
    followed by ``C`` when it carries the status-change letter (``HMC`` → ``MHC``, ``C``
    alone → ``C``); ``""`` when the letters are not a combination of the table (a letter
    outside S, H, M, L, D, C, a repeated letter, or a combination the table does not list).
    """
    letters = value.strip()
    if not letters or len(set(letters)) != len(letters) or not set(letters) <= set("SHMLDC"):
        return ""
    base = frozenset(letters) - {"C"}
    if not base:
        return "C"
    spelled = _NATURE_SPELLING.get(base)
    if spelled is None:
        return ""
    return spelled + ("C" if "C" in letters else "")


DMP_STATUSES = ("ACTIF", "FERME", "INEXISTANT")
"""ZFA-1."""
DMP_FEEDING = ("NA", "IO", "INO")
"""ZFA-9: not collected, informed and opposed to DMP feeding, informed and not opposed."""
DMP_CONSULTATION = ("NA", "INC", "IC")
"""ZFA-11: not collected, does not consent to DMP consultation, consents."""
SOCIO_PROFESSIONAL_ACTIVITIES = tuple("12345678")
"""ZFP-1 (table 3300)."""
SOCIO_PROFESSIONAL_CATEGORIES = (
    "11", "12", "13", "21", "22", "23", "31", "33", "34", "35", "37", "38", "42", "43", "44",
    "45", "46", "47", "48", "52", "53", "54", "55", "56", "62", "63", "64", "65", "67", "68",
    "69", "71", "72", "74", "75", "77", "78", "81", "83", "84", "85", "86",
)  # fmt: skip
"""ZFP-2 (table 3301, INSEE PCS-2003 two-digit categories)."""
TRANSPORT_CARE = ("MED", "PARAMED", "AUCUN")
"""ZFV-11."""
RIMP_LEGAL_MODES = ("1", "3", "4", "5", "6", "7", "8")
"""ZFV-10 (RIM-P legal care mode codes)."""
ADDRESS_TYPES = ("ORI", "DST")
"""ZFV-6 XAD-7."""
PMSI_ENTRY_MODES = ("0", "6", "7", "8", "N", "O")
"""ZFM-1."""
PMSI_EXIT_MODES = ("0", "4", "5", "6", "7", "8", "9")
"""ZFM-2."""
PMSI_ORIGINS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "R", "U")
"""ZFM-3 (provenance); ZFM-4 (destination) is the same table without ``5``. The HAD codes
(8, 9, U) are partly unreadable in the published PDF: checks on this table are warnings."""
PMSI_EMERGENCY = ("5", "U", "V")
"""ZFM-5 (passage through an emergency unit)."""
IDENTITY_ACQUISITION_MODES = ("SM", "CV", "INSI", "CB", "RFID")
"""ZFD-5."""
IDENTITY_DOCUMENT_TYPES = ("AN", "CC", "CE", "CM", "CN", "CS", "LE", "PA", "PC", "TC")
"""ZFD-7."""
PSY_LEGAL_MODES = (
    "OPP", "SPP", "SPL", "SPAP", "SDREP", "SDREM", "SDREIP", "SPD", "SDT", "SDTU", "SPI",
)  # fmt: skip
"""ZFS-6."""


# -- views -----------------------------------------------------------------------------------


class Field:
    """A descriptor reading component ``comp`` of the first repetition of field ``n``."""

    def __init__(self, n: int, comp: int = 1, doc: str = "") -> None:
        self.n, self.comp, self.__doc__ = n, comp, doc

    @overload
    def __get__(self, obj: None, owner: type[object]) -> Field: ...
    @overload
    def __get__(self, obj: _View, owner: type[object]) -> str: ...

    def __get__(self, obj: _View | None, owner: type[object]) -> Field | str:
        return self if obj is None else obj.segment.get(self.n, 1, self.comp)


@dataclass(frozen=True, slots=True)
class _View:
    segment: Segment
    NAME: ClassVar[str] = ""

    @classmethod
    def of(cls, message: Message) -> Self | None:
        """A view of the first segment named :attr:`NAME`, or None."""
        seg = message.segment(cls.NAME)
        return None if seg is None else cls(seg)

    @classmethod
    def all(cls, message: Message) -> tuple[Self, ...]:
        """A view of every segment named :attr:`NAME`, in message order."""
        return tuple(cls(s) for s in message.segments(cls.NAME))

    def _each(self, n: int, comp: int) -> tuple[str, ...]:
        reps = len(self.segment.repetitions(n))
        return tuple(self.segment.get(n, r, comp) for r in range(1, reps + 1))


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit (XON) of ZBE-7/ZBE-8: label (XON-1), id type (XON-7, ``UF``), code (XON-10)."""

    label: str
    id_type: str
    code: str


@dataclass(frozen=True, slots=True)
class ZBE(_View):
    """Action on a movement (§6.13)."""

    NAME: ClassVar[str] = "ZBE"
    start = Field(2, doc="ZBE-2: start of the movement (TS).")
    end = Field(3, doc="ZBE-3: end of the movement; forbidden in France.")
    action = Field(4, doc="ZBE-4: INSERT, UPDATE or CANCEL.")
    historic_indicator = Field(5, doc="ZBE-5: Y for a historic movement, else N.")
    original_event = Field(6, doc="ZBE-6: the event an UPDATE or CANCEL acts on.")
    nature = Field(9, doc="ZBE-9: nature of the movement (S, H, M, L, D, SM... C).")

    @property
    def movement_ids(self) -> tuple[str, ...]:
        """ZBE-1.1 of every repetition (cooperative movement management repeats it)."""
        return self._each(1, 1)

    @property
    def historic(self) -> bool:
        return self.historic_indicator == "Y"

    def _unit(self, n: int) -> Unit | None:
        seg = self.segment
        return Unit(seg.get(n), seg.get(n, 1, 7), seg.get(n, 1, 10)) if seg.raw(n) else None

    @property
    def medical_unit(self) -> Unit | None:
        """ZBE-7: the unit (UF) medically responsible."""
        return self._unit(7)

    @property
    def care_unit(self) -> Unit | None:
        """ZBE-8: the unit (UF) responsible for care."""
        return self._unit(8)


@dataclass(frozen=True, slots=True)
class ZFA(_View):
    """DMP status and consents (§6.14)."""

    NAME: ClassVar[str] = "ZFA"
    dmp_status = Field(1, doc="ZFA-1: ACTIF, FERME or INEXISTANT.")
    status_date = Field(2, doc="ZFA-2: date the DMP status was collected.")
    closing_date = Field(3, doc="ZFA-3: DMP closing date.")
    feeding = Field(9, doc="ZFA-9: information and opposition to DMP feeding (NA, IO, INO).")
    feeding_date = Field(10, doc="ZFA-10: date of ZFA-9.")
    consultation = Field(11, doc="ZFA-11: information and consent to consultation (NA, INC, IC).")
    consultation_date = Field(12, doc="ZFA-12: date of ZFA-11.")

    @property
    def opposed_to_feeding(self) -> bool:
        """True when ZFA-9 = IO: automatic DMP feeding must be blocked."""
        return self.feeding == "IO"


@dataclass(frozen=True, slots=True)
class ZFP(_View):
    """Professional situation (§6.15)."""

    NAME: ClassVar[str] = "ZFP"
    activity = Field(1, doc="ZFP-1: socio-professional activity (table 3300).")
    category = Field(2, doc="ZFP-2: socio-professional category (PCS-2003).")


@dataclass(frozen=True, slots=True)
class ZFV(_View):
    """Encounter complements (§6.16)."""

    NAME: ClassVar[str] = "ZFV"
    origin_facility = Field(1, 1, doc="ZFV-1.1: FINESS of the facility of origin.")
    origin_date = Field(1, 2, doc="ZFV-1.2: date in the facility of origin.")
    exit_transport = Field(2, doc="ZFV-2: mode of transport at discharge.")
    placement_start = Field(4, doc="ZFV-4: start of the psychiatric placement.")
    placement_end = Field(5, doc="ZFV-5: end of the psychiatric placement.")
    origin_account = Field(7, doc="ZFV-7: NDA in the facility of origin.")
    custom_exit_mode = Field(9, doc="ZFV-9: local discharge mode.")
    rimp_legal_mode = Field(10, doc="ZFV-10: RIM-P code of the legal care mode.")
    transport_care = Field(11, doc="ZFV-11: care during transport (MED, PARAMED, AUCUN).")

    @property
    def address_types(self) -> tuple[str, ...]:
        """ZFV-6 XAD-7 of each repetition (``ORI`` origin, ``DST`` destination)."""
        return self._each(6, 7)


@dataclass(frozen=True, slots=True)
class ZFM(_View):
    """PMSI movement (§6.17)."""

    NAME: ClassVar[str] = "ZFM"
    entry_mode = Field(1, doc="ZFM-1: PMSI entry mode.")
    exit_mode = Field(2, doc="ZFM-2: PMSI exit mode.")
    origin = Field(3, doc="ZFM-3: PMSI origin (provenance).")
    destination = Field(4, doc="ZFM-4: PMSI destination.")
    emergency = Field(5, doc="ZFM-5: passage through an emergency unit (5, U, V).")


@dataclass(frozen=True, slots=True)
class ZFD(_View):
    """Demographic complements (§6.18)."""

    NAME: ClassVar[str] = "ZFD"
    gestation_weeks = Field(2, doc="ZFD-2: weeks of gestation (NM).")
    sms_consent = Field(3, doc="ZFD-3: consent to SMS (Y/N).")
    birth_date_corrected = Field(4, doc="ZFD-4: birth date modified after INSi (Y/N).")
    acquisition_mode = Field(5, doc="ZFD-5: identity acquisition mode (SM, CV, INSI, CB, RFID).")
    insi_query_date = Field(6, doc="ZFD-6: date of the INSi teleservice query.")
    document_type = Field(7, doc="ZFD-7: identity document type.")
    document_expiry = Field(8, doc="ZFD-8: identity document expiry date.")

    @property
    def lunar_date(self) -> tuple[str, str, str]:
        """ZFD-1 as (day, month, year)."""
        seg = self.segment
        return (seg.get(1, 1, 1), seg.get(1, 1, 2), seg.get(1, 1, 3))


@dataclass(frozen=True, slots=True)
class ZFS(_View):
    """Legal mode of psychiatric care (§6.19); repeatable: use :meth:`all`."""

    NAME: ClassVar[str] = "ZFS"
    set_id = Field(1, doc="ZFS-1: set id.")
    legal_mode_id = Field(2, doc="ZFS-2.1: identifier of the legal mode.")
    start = Field(3, doc="ZFS-3: start of the legal mode.")
    end = Field(4, doc="ZFS-4: end of the legal mode.")
    action = Field(5, doc="ZFS-5: INSERT, UPDATE or CANCEL.")
    legal_mode = Field(6, doc="ZFS-6: legal mode (OPP, SPP, SDREP...).")
    rimp_code = Field(7, doc="ZFS-7: RIM-P code.")


__all__ = [
    "ADDRESS_TYPES",
    "DMP_CONSULTATION",
    "DMP_FEEDING",
    "DMP_STATUSES",
    "IDENTITY_ACQUISITION_MODES",
    "IDENTITY_DOCUMENT_TYPES",
    "MOVEMENT_ACTIONS",
    "MOVEMENT_NATURES",
    "PMSI_EMERGENCY",
    "PMSI_ENTRY_MODES",
    "PMSI_EXIT_MODES",
    "PMSI_ORIGINS",
    "PSY_LEGAL_MODES",
    "RIMP_LEGAL_MODES",
    "SOCIO_PROFESSIONAL_ACTIVITIES",
    "SOCIO_PROFESSIONAL_CATEGORIES",
    "TRANSPORT_CARE",
    "YES_NO",
    "ZBE",
    "ZFA",
    "ZFD",
    "ZFM",
    "ZFP",
    "ZFS",
    "ZFV",
    "Field",
    "Unit",
    "movement_nature",
]
