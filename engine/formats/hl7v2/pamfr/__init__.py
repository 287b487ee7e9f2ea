"""PAM-FR 2.11 (IHE PAM national extension France) on top of the HL7v2 reader.

* :mod:`.events` -- the event set (ITI-30/31), structures, insert/cancel/update relations.
* :mod:`.segments` -- typed views of ZBE, ZFA, ZFP, ZFV, ZFM, ZFD, ZFS and their value sets.
* :mod:`.movement` -- ZBE-4 INSERT/UPDATE/CANCEL semantics with ZBE-6, Z99 rules.
* :mod:`.ins` -- INS OIDs, NIR check key, identity status (PID-32), the "no VALI" rule.
* :mod:`.identity` -- A47 (INS change or removal) and A40 (merge).
* :mod:`.validation` -- findings per event (required, forbidden, types, value sets).
* :mod:`.facts` -- patient-free routing facts for the envelope metadata.

User documentation: ``docs/pam-fr.md``.
"""

from __future__ import annotations

from engine.formats.hl7v2.pamfr.events import (
    EXCLUDED_EVENTS,
    PAM_EVENTS,
    PamEvent,
    Role,
    Transaction,
    pam_event,
    unknown_event_reason,
)
from engine.formats.hl7v2.pamfr.facts import FACT_KEYS, routing_facts
from engine.formats.hl7v2.pamfr.findings import Finding, Severity, report_json
from engine.formats.hl7v2.pamfr.identity import (
    IdentifierChange,
    InsChange,
    Merge,
    identifier_change,
    merge_of,
)
from engine.formats.hl7v2.pamfr.ins import (
    INS_OIDS,
    IdentityStatus,
    InsIdentifier,
    InsKind,
    IntegratedIdentity,
    identity_status,
    ins_identifiers,
    integrate_identity,
    is_valid_nir,
    nir_key,
)
from engine.formats.hl7v2.pamfr.movement import Action, Movement, check_movement, movement_of
from engine.formats.hl7v2.pamfr.segments import ZBE, ZFA, ZFD, ZFM, ZFP, ZFS, ZFV
from engine.formats.hl7v2.pamfr.validation import required_segments, validate

__all__ = [
    "EXCLUDED_EVENTS",
    "FACT_KEYS",
    "INS_OIDS",
    "PAM_EVENTS",
    "ZBE",
    "ZFA",
    "ZFD",
    "ZFM",
    "ZFP",
    "ZFS",
    "ZFV",
    "Action",
    "Finding",
    "IdentifierChange",
    "IdentityStatus",
    "InsChange",
    "InsIdentifier",
    "InsKind",
    "IntegratedIdentity",
    "Merge",
    "Movement",
    "PamEvent",
    "Role",
    "Severity",
    "Transaction",
    "check_movement",
    "identifier_change",
    "identity_status",
    "ins_identifiers",
    "integrate_identity",
    "is_valid_nir",
    "merge_of",
    "movement_of",
    "nir_key",
    "pam_event",
    "report_json",
    "required_segments",
    "routing_facts",
    "unknown_event_reason",
    "validate",
]
