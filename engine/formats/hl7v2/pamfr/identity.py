"""Identity events of ITI-30: A47 (change of identifier, INS change or removal) and A40
(merge), surfaced as patient-free facts.

PAM-FR §4.4 patterns:

* INS change (e.g. after a sex change): A47, the new INS in PID-3, the previous one in MRG-1.
* INS removal (INS wrongly attributed): A47, PID-3 = IPP + an INS repetition holding the
  HL7 null ``""``, the INS to delete in MRG-1; the receiver deletes every INS (NIR and NIA)
  of the patient MRG-1 designates. A removal does not change the identity status by
  itself: PID-32 (``PROV`` for a downgrade to "récupérée") says what it becomes.
* Merge: A40, one PID/MRG group per merged patient; MRG-1 is the absorbed identifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.formats.hl7v2.message import Message
from engine.formats.hl7v2.pamfr.ins import INS_TYPE, ins_of, preferred_ins
from engine.formats.hl7v2.segment import Segment


class InsChange(StrEnum):
    """What an A47 does to the INS."""

    NONE = "none"
    """The A47 changes another identifier (an IPP), not the INS."""
    CHANGE = "change"
    """A new INS replaces the one in MRG-1."""
    REMOVAL = "removal"
    """Every INS of the patient is deleted (PID-3 INS repetition ``""``)."""


def _types(segment: Segment, field: int) -> tuple[str, ...]:
    n = len(segment.repetitions(field))
    return tuple(segment.get(field, r, 5) for r in range(1, n + 1))


@dataclass(frozen=True, slots=True)
class IdentifierChange:
    """An A47: which identifier types MRG-1 carries and what happens to the INS."""

    previous_types: tuple[str, ...]
    ins_change: InsChange

    @property
    def involves_ins(self) -> bool:
        return self.ins_change is not InsChange.NONE


def identifier_change(message: Message) -> IdentifierChange | None:
    """The identifier change of an A47 (first PID and MRG); None when there is no MRG."""
    mrg, pid = message.segment("MRG"), message.segment("PID")
    if mrg is None:
        return None
    previous = _types(mrg, 1)
    new = ins_of(pid, 3) if pid is not None else ()
    if any(i.null for i in new):
        change = InsChange.REMOVAL
    elif INS_TYPE in previous:
        change = InsChange.CHANGE if preferred_ins(new) is not None else InsChange.REMOVAL
    else:
        change = InsChange.NONE
    return IdentifierChange(previous, change)


@dataclass(frozen=True, slots=True)
class Merge:
    """An A40: the number of PID/MRG groups and the identifier types of each MRG-1."""

    groups: int
    previous_types: tuple[tuple[str, ...], ...]

    @property
    def merges_ins(self) -> bool:
        """True when an absorbed identifier is an INS (unusual: merges are usually on IPP)."""
        return any(INS_TYPE in types for types in self.previous_types)


def merge_of(message: Message) -> Merge | None:
    """The merge an A40 describes; None when it has no MRG segment."""
    mrgs = message.segments("MRG")
    if not mrgs:
        return None
    return Merge(len(mrgs), tuple(_types(m, 1) for m in mrgs))


__all__ = ["IdentifierChange", "InsChange", "Merge", "identifier_change", "merge_of"]
