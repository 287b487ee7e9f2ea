"""Patient-free routing facts of a PAM-FR message, for the envelope metadata.

:func:`routing_facts` reads the event, the movement (ZBE), the INS and identity status
(PID-3, PID-32), the DMP status and consents (ZFA) and the A47/A40 identity events, and
returns string facts that routes compare (``when`` keys, see docs/pam-fr.md). Every value
comes from a closed set (event codes, table values, ``true``/``false``): a coded field
holding anything else gives "". The INS, names and dates are never facts.
"""

from __future__ import annotations

from collections.abc import Container

from engine.formats.hl7v2.message import Message
from engine.formats.hl7v2.pamfr.events import PAM_EVENTS, PamEvent, pam_event
from engine.formats.hl7v2.pamfr.identity import InsChange, identifier_change
from engine.formats.hl7v2.pamfr.ins import IDENTITY_STATUSES, InsKind, integrate_identity
from engine.formats.hl7v2.pamfr.segments import (
    DMP_CONSULTATION,
    DMP_FEEDING,
    DMP_STATUSES,
    MOVEMENT_ACTIONS,
    ZBE,
    ZFA,
    movement_nature,
)

EVENT = "pam.event"
TRANSACTION = "pam.transaction"
MOVEMENT_ACTION = "pam.movement_action"
ORIGINAL_EVENT = "pam.original_event"
HISTORIC = "pam.historic"
MOVEMENT_NATURE = "pam.movement_nature"
MERGE = "pam.merge"
INS_CHANGE = "pam.ins_change"
INS_KIND = "ins.kind"
INS_TEST = "ins.test"
INS_QUALIFIED = "ins.qualified"
INS_DROPPED = "ins.dropped"
INS_DROP_REASON = "ins.drop_reason"
IDENTITY_STATUS = "identity.status"
IDENTITY_ATTRIBUTES = "identity.attributes"
DMP_STATUS = "dmp.status"
DMP_OPPOSITION = "dmp.opposition"
DMP_FEEDING_CODE = "dmp.feeding"
DMP_CONSULTATION_CODE = "dmp.consultation"

FACT_KEYS = (
    EVENT,
    TRANSACTION,
    MOVEMENT_ACTION,
    ORIGINAL_EVENT,
    HISTORIC,
    MOVEMENT_NATURE,
    MERGE,
    INS_CHANGE,
    INS_KIND,
    INS_TEST,
    INS_QUALIFIED,
    INS_DROPPED,
    INS_DROP_REASON,
    IDENTITY_STATUS,
    IDENTITY_ATTRIBUTES,
    DMP_STATUS,
    DMP_OPPOSITION,
    DMP_FEEDING_CODE,
    DMP_CONSULTATION_CODE,
)
"""Every key :func:`routing_facts` may return (``ins.drop_reason`` only when dropped)."""


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _coded(value: str, allowed: Container[str]) -> str:
    return value if value in allowed else ""


def routing_facts(message: Message, event: PamEvent | None = None) -> dict[str, str]:
    """The routing facts of a PAM-FR ADT message; ``{}`` when MSH-9.2 is not a PAM-FR event.

    ``event`` defaults to the PAM-FR event of MSH-9.2.
    """
    pam = event or pam_event(message.get("MSH-9.2"))
    if pam is None:
        return {}
    facts = {EVENT: pam.code, TRANSACTION: pam.transaction.value}
    zbe = ZBE.of(message) if pam.has_movement else None
    facts[MOVEMENT_ACTION] = _coded(zbe.action, MOVEMENT_ACTIONS) if zbe else ""
    facts[ORIGINAL_EVENT] = _coded(zbe.original_event, PAM_EVENTS.keys()) if zbe else ""
    facts[HISTORIC] = _flag(zbe is not None and zbe.historic)
    facts[MOVEMENT_NATURE] = movement_nature(zbe.nature) if zbe else ""
    facts[MERGE] = _flag(pam.code == "A40" and message.segment("MRG") is not None)
    change = identifier_change(message) if pam.code == "A47" else None
    facts[INS_CHANGE] = (change.ins_change if change else InsChange.NONE).value

    identity = integrate_identity(message)
    received = identity.received
    facts[INS_KIND] = received.kind.value if received else InsKind.NONE.value
    facts[INS_TEST] = _flag(received is not None and received.test)
    facts[INS_QUALIFIED] = _flag(identity.qualified)
    facts[INS_DROPPED] = _flag(identity.dropped)
    if identity.dropped:
        facts[INS_DROP_REASON] = identity.dropped_reason
    facts[IDENTITY_STATUS] = _coded(identity.status.status, IDENTITY_STATUSES)
    facts[IDENTITY_ATTRIBUTES] = ",".join(identity.status.attributes)

    zfa = ZFA.of(message)
    facts[DMP_STATUS] = _coded(zfa.dmp_status, DMP_STATUSES) if zfa else ""
    facts[DMP_OPPOSITION] = _flag(zfa is not None and zfa.opposed_to_feeding)
    facts[DMP_FEEDING_CODE] = _coded(zfa.feeding, DMP_FEEDING) if zfa else ""
    facts[DMP_CONSULTATION_CODE] = _coded(zfa.consultation, DMP_CONSULTATION) if zfa else ""
    return facts


__all__ = [
    "DMP_CONSULTATION_CODE",
    "DMP_FEEDING_CODE",
    "DMP_OPPOSITION",
    "DMP_STATUS",
    "EVENT",
    "FACT_KEYS",
    "HISTORIC",
    "IDENTITY_ATTRIBUTES",
    "IDENTITY_STATUS",
    "INS_CHANGE",
    "INS_DROPPED",
    "INS_DROP_REASON",
    "INS_KIND",
    "INS_QUALIFIED",
    "INS_TEST",
    "MERGE",
    "MOVEMENT_ACTION",
    "MOVEMENT_NATURE",
    "ORIGINAL_EVENT",
    "TRANSACTION",
    "routing_facts",
]
