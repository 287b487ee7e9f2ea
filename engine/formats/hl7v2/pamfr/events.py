"""The PAM-FR 2.11 trigger events: transaction, message structure and movement relations.

Source: IHE PAM national extension France 2.11.1, §2.1 (ITI-30), §2.2 and §5.3.2 (ITI-31),
and the HL7 v2.5 message structures. PAM-FR excludes A08 (demographics go with A31,
movement corrections with Z99) and does not use A40 in ITI-31. A receiver ignores trigger
events it does not know (§5.3.2, remark 1); see :data:`EXCLUDED_EVENTS`.

The pending events of the optional *Pending Event Management* option (A14/A15/A16 and
their cancellations A27/A26/A25) are recognised too (``optional=True``): they are PAM-FR
events, and dropping them would lose a feed that uses the option.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Transaction(StrEnum):
    ITI30 = "ITI-30"
    """Patient identity feed."""
    ITI31 = "ITI-31"
    """Patient encounter management (movements, with a ZBE segment)."""


class Role(StrEnum):
    """What an event does to a movement (or to the identity, for ITI-30)."""

    INSERT = "insert"
    CANCEL = "cancel"
    UPDATE = "update"
    IDENTITY = "identity"
    ACCOUNT = "account"


@dataclass(frozen=True, slots=True)
class PamEvent:
    """One PAM-FR trigger event.

    Attributes:
        code: the trigger event (MSH-9.2).
        transaction: ITI-30 or ITI-31.
        structure: the HL7 v2.5 message structure expected in MSH-9.3.
        meaning: a short English description.
        role: insert, cancel, update (Z99), identity (ITI-30) or account (A44).
        cancels: the insert events this event cancels (with ZBE-4 = CANCEL and ZBE-6 one
            of them). A06 and A07 insert, and cancel each other with ZBE-4 = CANCEL.
        cancelled_by: the event that cancels this insert event ("" if none).
        updatable: a Z99 (ZBE-4 = UPDATE, ZBE-6 = this event) may correct it.
        optional: part of an optional PAM-FR option (pending events).
    """

    code: str
    transaction: Transaction
    structure: str
    meaning: str
    role: Role
    cancels: tuple[str, ...] = ()
    cancelled_by: str = ""
    updatable: bool = False
    optional: bool = False

    @property
    def has_movement(self) -> bool:
        """True when the message carries a ZBE (every ITI-31 event except A44)."""
        return self.transaction is Transaction.ITI31 and self.role is not Role.ACCOUNT

    @property
    def actions(self) -> frozenset[str]:
        """The ZBE-4 values this event may carry."""
        if self.role is Role.UPDATE:
            return frozenset({"UPDATE"})
        if self.role is Role.CANCEL:
            return frozenset({"CANCEL"})
        return frozenset({"INSERT", "CANCEL"} if self.cancels else {"INSERT"})


def _identity(code: str, structure: str, meaning: str) -> PamEvent:
    return PamEvent(code, Transaction.ITI30, structure, meaning, Role.IDENTITY)


def _insert(
    code: str, structure: str, meaning: str, cancelled_by: str, *, optional: bool = False
) -> PamEvent:
    cancels = {"A06": ("A07",), "A07": ("A06",)}.get(code, ())
    return PamEvent(
        code,
        Transaction.ITI31,
        structure,
        meaning,
        Role.INSERT,
        cancels=cancels,
        cancelled_by=cancelled_by,
        updatable=True,
        optional=optional,
    )


def _cancel(
    code: str, structure: str, meaning: str, cancels: tuple[str, ...], *, optional: bool = False
) -> PamEvent:
    return PamEvent(
        code, Transaction.ITI31, structure, meaning, Role.CANCEL, cancels, optional=optional
    )


_EVENTS = (
    _identity("A28", "ADT_A05", "create patient"),
    _identity("A31", "ADT_A05", "update patient"),
    _identity("A47", "ADT_A30", "change patient identifier (INS change or removal)"),
    _identity("A40", "ADT_A39", "merge patients"),
    _insert("A01", "ADT_A01", "admit inpatient", "A11"),
    _insert("A04", "ADT_A01", "register outpatient", "A11"),
    _insert("A03", "ADT_A03", "discharge", "A13"),
    _insert("A05", "ADT_A05", "pre-admit", "A38"),
    _insert("A06", "ADT_A06", "change outpatient to inpatient", "A07"),
    _insert("A07", "ADT_A06", "change inpatient to outpatient", "A06"),
    _insert("A02", "ADT_A02", "transfer", "A12"),
    _insert("A54", "ADT_A54", "change attending doctor", "A55"),
    _insert("A21", "ADT_A21", "leave of absence", "A52"),
    _insert("A22", "ADT_A21", "return from leave of absence", "A53"),
    _insert("A14", "ADT_A05", "pending admit", "A27", optional=True),
    _insert("A15", "ADT_A15", "pending transfer", "A26", optional=True),
    _insert("A16", "ADT_A16", "pending discharge", "A25", optional=True),
    _cancel("A11", "ADT_A09", "cancel admit or registration", ("A01", "A04")),
    _cancel("A12", "ADT_A12", "cancel transfer", ("A02",)),
    _cancel("A13", "ADT_A01", "cancel discharge", ("A03",)),
    _cancel("A38", "ADT_A38", "cancel pre-admit", ("A05",)),
    _cancel("A52", "ADT_A52", "cancel leave of absence", ("A21",)),
    _cancel("A53", "ADT_A52", "cancel return from leave of absence", ("A22",)),
    _cancel("A55", "ADT_A52", "cancel change attending doctor", ("A54",)),
    _cancel("A27", "ADT_A21", "cancel pending admit", ("A14",), optional=True),
    _cancel("A26", "ADT_A21", "cancel pending transfer", ("A15",), optional=True),
    _cancel("A25", "ADT_A21", "cancel pending discharge", ("A16",), optional=True),
    PamEvent("Z99", Transaction.ITI31, "ADT_A01", "update a movement", Role.UPDATE),
    PamEvent("A44", Transaction.ITI31, "ADT_A43", "move account information", Role.ACCOUNT),
)

PAM_EVENTS: Mapping[str, PamEvent] = MappingProxyType({e.code: e for e in _EVENTS})
"""Every recognised PAM-FR trigger event, by code."""

EXCLUDED_EVENTS: Mapping[str, str] = MappingProxyType(
    {"A08": "demographics go with A31, movement updates with Z99"}
)
"""Standard HL7 events PAM-FR rules out, with the reason (they count as unknown)."""

UPDATABLE_EVENTS = frozenset(e.code for e in _EVENTS if e.updatable)
"""The events a Z99 may correct (ZBE-6 of a Z99)."""

STATUS_CHANGE_EVENTS = frozenset({"A01", "A04", "A05"})
"""The events whose Z99 may carry ZBE-9 = ``C`` (status change without a new movement)."""


def pam_event(code: str) -> PamEvent | None:
    """The PAM-FR event for a trigger code, or None when PAM-FR does not use it."""
    return PAM_EVENTS.get(code)


def unknown_event_reason(code: str) -> str:
    """Why a trigger event is not taken (patient-free, for MSA-3, ERR-8 and the store)."""
    why = EXCLUDED_EVENTS.get(code)
    return f"event {code or '(none)'} is not used in PAM-FR" + (f" ({why})" if why else "")


__all__ = [
    "EXCLUDED_EVENTS",
    "PAM_EVENTS",
    "STATUS_CHANGE_EVENTS",
    "UPDATABLE_EVENTS",
    "PamEvent",
    "Role",
    "Transaction",
    "pam_event",
    "unknown_event_reason",
]
