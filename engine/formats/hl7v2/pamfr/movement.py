"""Movement semantics of ITI-31 messages: ZBE-4 INSERT / UPDATE / CANCEL with ZBE-6.

PAM-FR §5.3.2 and §6.13:

* An insert event (A01, A02, ...) creates a movement: ZBE-4 ``INSERT``.
* A cancel event (A11, A12, ...) cancels one: ZBE-4 ``CANCEL`` and ZBE-6 = the cancelled
  insert event (A11 cancels A01 or A04). A06 and A07 cancel each other with ZBE-4
  ``CANCEL`` (A06 cancelling an A07, and the reverse).
* Z99 corrects one: ZBE-4 ``UPDATE`` only, ZBE-6 = the corrected event; Z99 is never an
  insert or a cancel, and UPDATE is used with Z99 only.
* ZBE-5 ``Y`` marks a historic movement; ZBE-9 ``C`` (status change without a new
  movement) is only allowed on a Z99 correcting an A01, A04 or A05.

:func:`movement_of` reads the movement; :func:`check_movement` returns the findings of the
rules above (the ZBE-4/5/6/9 value sets themselves are checked by the validator).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.formats.hl7v2.message import Message
from engine.formats.hl7v2.pamfr.events import (
    PAM_EVENTS,
    STATUS_CHANGE_EVENTS,
    UPDATABLE_EVENTS,
    PamEvent,
    Role,
)
from engine.formats.hl7v2.pamfr.findings import REQUIRED_MISSING, TABLE_VALUE, Finding, Severity
from engine.formats.hl7v2.pamfr.segments import ZBE


class Action(StrEnum):
    INSERT = "INSERT"
    UPDATE = "UPDATE"
    CANCEL = "CANCEL"


_ACTIONS = frozenset(a.value for a in Action)


@dataclass(frozen=True, slots=True)
class Movement:
    """The movement an ITI-31 message acts on.

    Attributes:
        event: the trigger event (MSH-9.2).
        action: ZBE-4 as sent (``INSERT``, ``UPDATE``, ``CANCEL``; "" when empty).
        original_event: ZBE-6 as sent ("" when empty).
        historic: ZBE-5 is ``Y``.
        nature: ZBE-9.
        ids: ZBE-1.1 of each repetition.
    """

    event: str
    action: str
    original_event: str
    historic: bool
    nature: str
    ids: tuple[str, ...]

    @property
    def target_event(self) -> str:
        """The insert event this movement creates, cancels or corrects: the trigger itself
        for INSERT, ZBE-6 for UPDATE and CANCEL (for a cancel event with an empty ZBE-6,
        the event it cancels when there is only one); "" when unknown."""
        if self.action == Action.INSERT:
            return self.event
        if self.original_event:
            return self.original_event
        pam = PAM_EVENTS.get(self.event)
        if self.action == Action.CANCEL and pam is not None and len(pam.cancels) == 1:
            return pam.cancels[0]
        return ""


def movement_of(message: Message, event: str | None = None) -> Movement | None:
    """The movement of the first ZBE, or None when the message has no ZBE.

    ``event`` defaults to MSH-9.2.
    """
    zbe = ZBE.of(message)
    if zbe is None:
        return None
    return Movement(
        event=message.get("MSH-9.2") if event is None else event,
        action=zbe.action,
        original_event=zbe.original_event,
        historic=zbe.historic,
        nature=zbe.nature,
        ids=zbe.movement_ids,
    )


def _err(code: int, field: int, text: str, severity: Severity = Severity.ERROR) -> Finding:
    return Finding(code, text, "ZBE", field, severity)


def check_movement(mv: Movement, pam: PamEvent) -> list[Finding]:
    """Findings of the INSERT/UPDATE/CANCEL rules for ``mv`` under event ``pam``.

    An action outside INSERT/UPDATE/CANCEL (or empty) is left to the field checks.
    """
    out: list[Finding] = []
    action, original = mv.action, mv.original_event
    if action in _ACTIONS:
        if action not in pam.actions:
            out.append(_err(TABLE_VALUE, 4, _action_text(pam)))
        elif action in (Action.UPDATE, Action.CANCEL):
            if not original:
                out.append(_err(REQUIRED_MISSING, 6, f"original event required with {action}"))
            elif action == Action.CANCEL and original not in pam.cancels:
                cancels = " or ".join(pam.cancels)
                out.append(_err(TABLE_VALUE, 6, f"{pam.code} with CANCEL cancels {cancels}"))
            elif action == Action.UPDATE and original not in UPDATABLE_EVENTS:
                out.append(_err(TABLE_VALUE, 6, "Z99 corrects an insert movement event"))
        elif original:
            text = "original event is only valued with UPDATE or CANCEL"
            out.append(_err(TABLE_VALUE, 6, text, Severity.WARNING))
    elif original and original not in PAM_EVENTS:
        out.append(_err(TABLE_VALUE, 6, "original event is not a PAM-FR event", Severity.WARNING))
    if mv.nature == "C" and not (action == Action.UPDATE and original in STATUS_CHANGE_EVENTS):
        out.append(_err(TABLE_VALUE, 9, "nature C is only used on a Z99 about A01, A04 or A05"))
    return out


def _action_text(pam: PamEvent) -> str:
    if pam.role is Role.UPDATE:
        return "Z99 is only used with action UPDATE"
    if pam.role is Role.CANCEL:
        return f"{pam.code} cancels a movement: action must be CANCEL"
    allowed = " or ".join(sorted(pam.actions))
    return f"{pam.code} takes action {allowed} (UPDATE is only used with Z99)"


__all__ = ["Action", "Movement", "check_movement", "movement_of"]
