"""Movement semantics of ITI-31 messages: ZBE-4 INSERT / UPDATE / CANCEL with ZBE-6.

PAM-FR §5.3.2 and §6.13:

* An insert event (A01, A02, ...) creates a movement: ZBE-4 ``INSERT``.
* A cancel event (A11, A12, ...) cancels one: ZBE-4 ``CANCEL`` and ZBE-6 = the cancelled
  insert event (A11 cancels A01 or A04). A06 and A07 cancel each other with ZBE-4
  ``CANCEL`` (A06 cancelling an A07, and the reverse).
* Z99 corrects one: ZBE-4 ``UPDATE`` only, ZBE-6 = the corrected event; Z99 is never an
  insert or a cancel, and UPDATE is used with Z99 only.
* ZBE-5 ``Y`` marks a historic movement; ZBE-9 with ``C`` (status change without a new
  movement, alone or combined as in ``HMC``) is only allowed on a Z99 correcting an A01,
  A04 or A05.

:func:`movement_of` reads the movement; :func:`check_movement` returns the findings of the
rules above (the ZBE-4/5/6/9 value sets themselves are checked by the validator).
"""

from __future__ import annotations

import re
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
from engine.formats.hl7v2.pamfr.segments import ZBE, movement_nature


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


_EVENT_CODE = re.compile(r"^[A-Z][0-9]{2}$")


def _which(event: str) -> str:
    """How a finding names a received ZBE-6: an event code as such (codes are not patient
    data), anything else only as "the value"."""
    if not _EVENT_CODE.match(event):
        return "the value is not an event code"
    pam = PAM_EVENTS.get(event)
    if pam is None:
        return f"{event} is not an event PAM-FR uses"
    if pam.role is Role.CANCEL:
        return f"{event} is a cancellation"
    if pam.role is Role.UPDATE:
        return f"{event} is itself a correction"
    if pam.role in (Role.IDENTITY, Role.ACCOUNT):
        return f"{event} is not a movement event"
    return f"{event} is not one of them"


def check_movement(mv: Movement, pam: PamEvent) -> list[Finding]:
    """Findings of the INSERT/UPDATE/CANCEL rules for ``mv`` under event ``pam``; each text
    says what the message did and which rule that breaks.

    An action outside INSERT/UPDATE/CANCEL (or empty) is left to the field checks.
    """
    out: list[Finding] = []
    action, original = mv.action, mv.original_event
    if action in _ACTIONS:
        if action not in pam.actions:
            out.append(_err(TABLE_VALUE, 4, _action_text(pam, action)))
        elif action in (Action.UPDATE, Action.CANCEL):
            verb = "corrected" if action == Action.UPDATE else "cancelled"
            if not original:
                text = f"empty; with action {action} it must name the {verb} event"
                out.append(_err(REQUIRED_MISSING, 6, text))
            elif action == Action.CANCEL and original not in pam.cancels:
                cancels = " or ".join(pam.cancels)
                text = f"{pam.code} with CANCEL cancels {cancels}; {_which(original)}"
                out.append(_err(TABLE_VALUE, 6, text))
            elif action == Action.UPDATE and original not in UPDATABLE_EVENTS:
                text = f"a Z99 must name the corrected movement event; {_which(original)}"
                out.append(_err(TABLE_VALUE, 6, text))
        elif original:
            text = "valued with action INSERT; the original event goes with UPDATE or CANCEL only"
            out.append(_err(TABLE_VALUE, 6, text, Severity.WARNING))
    elif original and original not in PAM_EVENTS:
        text = f"the original event must be a PAM-FR event; {_which(original)}"
        out.append(_err(TABLE_VALUE, 6, text, Severity.WARNING))
    if movement_nature(mv.nature).endswith("C") and not (
        action == Action.UPDATE and original in STATUS_CHANGE_EVENTS
    ):
        what = (
            f"this Z99 corrects {original}"
            if action == Action.UPDATE and _EVENT_CODE.match(original)
            else f"this message is {_article(pam.code)} {pam.code}"
        )
        text = f"nature C (status change) is only sent on a Z99 correcting A01, A04 or A05; {what}"
        out.append(_err(TABLE_VALUE, 9, text))
    return out


def _article(code: str) -> str:
    return "an" if code[:1] in "AEFHILMNORSX" else "a"


def _action_text(pam: PamEvent, action: str) -> str:
    sent = f"{pam.code} was sent with action {action}"
    if pam.role is Role.UPDATE:
        return f"{sent}; a Z99 always uses UPDATE"
    if pam.role is Role.CANCEL:
        return f"{sent}; {pam.code} cancels a movement: the action is CANCEL"
    allowed = " or ".join(sorted(pam.actions))
    return f"{sent}; UPDATE is only used with Z99 ({pam.code} takes {allowed})"


__all__ = ["Action", "Movement", "check_movement", "movement_of"]
