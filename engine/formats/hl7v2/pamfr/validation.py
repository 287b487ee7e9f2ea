"""PAM-FR validation of one ADT message: cheap enough for the intake hot path.

:func:`validate` returns every :class:`~engine.formats.hl7v2.pamfr.findings.Finding`:

* the event: recognised (201 otherwise), MSH-9.3 the expected structure (warning);
* segments: EVN and PID always, PV1 for ITI-31 movement events (not for A28/A31: the
  A31 example of PAM-FR §4.4.1 has none), ZBE for every ITI-31 movement event, MRG for
  A40/A44/A47 (100); EVN, PID, PV1 in that order and
  Z segments after PV1 (100, warning); at most one EVN, PV1, ZBE, ZFA, ZFP, ZFV, ZFM, ZFD
  (198, warning);
* fields (:data:`~engine.formats.hl7v2.pamfr.rules.SEGMENT_RULES`, every occurrence):
  required (101), forbidden (198), TS dates and NM numbers (102), value sets (103);
  PID-18 (the NDA) required in ITI-31 (101);
* movements (:func:`~engine.formats.hl7v2.pamfr.movement.check_movement`);
* INS: an INS OID under CX-5 ``INS`` (103, warning), a valid NIR key (102: an error for
  the production OIDs, a warning for test and demo INS), PID-32 ``VALI`` when an INS is
  sent (103, warning: the INS is then integrated without it), PID-32 present (101, warning).

Only the message's own segments are read (no hl7apy, no grammar); a few dozen field reads.
Finding texts say what was wrong and which rule it breaks, naming fields, codes of PAM-FR's
own tables and event codes, never a value received in a free-text or identifier field.
"""

from __future__ import annotations

from engine.formats.hl7v2.escape import unescape
from engine.formats.hl7v2.header import HEADER_SEGMENTS, Delimiters
from engine.formats.hl7v2.message import Message
from engine.formats.hl7v2.pamfr.events import PamEvent, pam_event, unknown_event_reason
from engine.formats.hl7v2.pamfr.findings import (
    CARDINALITY,
    DATA_TYPE,
    REQUIRED_MISSING,
    SEGMENT_SEQUENCE,
    TABLE_VALUE,
    Finding,
    Severity,
    is_nm,
    is_ts,
)
from engine.formats.hl7v2.pamfr.ins import (
    HL7_NULL,
    INS_OIDS,
    INS_TYPE,
    RULE_NO_VALI,
    identity_status,
    ins_of,
)
from engine.formats.hl7v2.pamfr.movement import check_movement, movement_of
from engine.formats.hl7v2.pamfr.rules import SEGMENT_RULES, SINGLE_SEGMENTS, FieldRule
from engine.formats.hl7v2.segment import Segment

E, W = Severity.ERROR, Severity.WARNING
UNSUPPORTED_EVENT = 201
_Z_SEGMENTS = ("ZBE", "ZFA", "ZFP", "ZFV", "ZFM", "ZFD", "ZFS")


def required_segments(event: PamEvent) -> tuple[str, ...]:
    """The segments a message of ``event`` must carry (besides MSH)."""
    out = ["EVN", "PID"]
    if event.has_movement:
        out.append("PV1")
    if event.has_movement:
        out.append("ZBE")
    if event.code in ("A40", "A44", "A47"):
        out.append("MRG")
    return tuple(out)


def validate(message: Message, event: PamEvent | None = None) -> list[Finding]:
    """Every finding for ``message`` (an ADT); ``event`` defaults to MSH-9.2's."""
    if event is None:
        code = message.get("MSH-9.2")
        event = pam_event(code)
        if event is None:
            return [Finding(UNSUPPORTED_EVENT, unknown_event_reason(code), "MSH", 9)]
    out: list[Finding] = []
    _check_structure(message, event, out)
    _check_segments(message, event, out)
    d = message.delimiters
    seps = d.component + d.repetition + d.subcomponent
    for name, rules in SEGMENT_RULES.items():
        found = message.segments(name)
        for occurrence, seg in enumerate(found, 1):
            _check_fields(seg, rules, occurrence if len(found) > 1 else None, message, out)
    pid = message.segment("PID")
    if event.has_movement:
        if pid is not None and not _valued(pid.field(18), seps):
            text = "patient account number (NDA) is missing; ITI-31 messages require it"
            out.append(Finding(REQUIRED_MISSING, text, "PID", 18))
        movement = movement_of(message, event.code)
        if movement is not None:
            out.extend(check_movement(movement, event))
    if pid is not None:
        _check_ins(message, pid, event, out)
    return out


def _valued(raw: str, seps: str) -> bool:
    """Not empty, not the HL7 null, not only separators."""
    return raw != HL7_NULL and bool(raw.strip(seps))


def _check_structure(message: Message, event: PamEvent, out: list[Finding]) -> None:
    structure = message.get("MSH-9.3")
    if structure != event.structure:
        code = TABLE_VALUE if structure else REQUIRED_MISSING
        what = "is missing" if not structure else f"is not {event.structure}"
        text = f"message structure {what}; PAM-FR sends {event.code} as {event.structure}"
        out.append(Finding(code, text, "MSH", 9, W, component=3))


def _check_segments(message: Message, event: PamEvent, out: list[Finding]) -> None:
    ids = message.segment_ids
    first: dict[str, int] = {}
    for i, name in enumerate(ids):
        first.setdefault(name, i)
    for name in required_segments(event):
        if name not in first:
            text = f"{name} segment is missing; {event.code} requires it"
            out.append(Finding(SEGMENT_SEQUENCE, text, name))
    order = [first[n] for n in ("EVN", "PID", "PV1") if n in first]
    if order != sorted(order):
        text = "EVN, PID and PV1 are out of order; PAM-FR sends EVN, then PID, then PV1"
        out.append(Finding(SEGMENT_SEQUENCE, text, "PID", None, W))
    pv1 = first.get("PV1")
    if pv1 is not None:
        for name in _Z_SEGMENTS:
            if first.get(name, pv1) < pv1:
                text = "segment comes before PV1; the French segments follow PV1"
                out.append(Finding(SEGMENT_SEQUENCE, text, name, None, W))
    grouped = event.code in ("A40", "A44")  # {PID [PD1] MRG [PV1]} repeats
    single = [n for n in SINGLE_SEGMENTS if n != "PV1"] if grouped else [*SINGLE_SEGMENTS, "PID"]
    for name in single:
        if ids.count(name) > 1:
            text = "segment occurs more than once; PAM-FR allows one"
            out.append(Finding(CARDINALITY, text, name, None, W))


def _check_fields(
    seg: Segment, rules: tuple[FieldRule, ...], occ: int | None, msg: Message, out: list[Finding]
) -> None:
    """Apply ``rules`` to one segment, splitting its text once (this is the hot loop)."""
    d = msg.delimiters
    fields = seg.to_text().split(d.field)
    name = fields[0]
    if name in HEADER_SEGMENTS:
        fields.insert(1, d.field)
    seps = d.component + d.repetition + d.subcomponent
    for rule in rules:
        n = rule.field
        raw = fields[n] if n < len(fields) else ""
        if not _valued(raw, seps):
            if rule.usage == "R":
                text = f"{rule.label} is missing; PAM-FR requires it"
                out.append(Finding(REQUIRED_MISSING, text, name, n, E, occ))
            continue
        if rule.usage == "X":
            text = f"{rule.label}, but the field is valued"
            out.append(Finding(CARDINALITY, text, name, n, rule.severity, occ))
            continue
        reps = raw.split(d.repetition) if rule.all_reps else raw.split(d.repetition, 1)[:1]
        for rep, text in enumerate(reps, 1):
            value = _component(text, d, rule.component)
            if not value or value == HL7_NULL:
                continue
            if d.escape in value:
                value = unescape(value, d, codec=msg.codec)
            problem = _problem(rule, value)
            if problem is not None:
                code, label = problem
                component = rule.component if rule.component > 1 else None
                repetition = rep if rule.all_reps else None
                finding = Finding(code, label, name, n, rule.severity, occ, repetition, component)
                out.append(finding)


def _component(rep: str, d: Delimiters, comp: int) -> str:
    """The first sub-component of component ``comp`` of one repetition ("" when absent)."""
    parts = rep.split(d.component, comp)
    value = parts[comp - 1] if comp <= len(parts) else ""
    return value.split(d.subcomponent, 1)[0] if d.subcomponent else value


def _problem(rule: FieldRule, value: str) -> tuple[int, str] | None:
    if rule.datatype == "TS" and not is_ts(value):
        return DATA_TYPE, f"{rule.label} is not a valid date/time (TS)"
    if rule.datatype == "NM" and not is_nm(value):
        return DATA_TYPE, f"{rule.label} is not a number (NM)"
    if rule.accepts is not None and not rule.accepts(value):
        return TABLE_VALUE, f"{rule.label} is not {rule.values_text}"
    if rule.values and value not in rule.values:
        return TABLE_VALUE, f"{rule.label} is not a code of its PAM-FR table{_codes(rule)}"
    return None


def _codes(rule: FieldRule) -> str:
    """`` (one of A, B, C)`` for a short value set, "" for a long one."""
    if len(rule.values) > 12:
        return ""
    return f" (one of {', '.join(sorted(rule.values))})"


def _check_ins(message: Message, pid: Segment, event: PamEvent, out: list[Finding]) -> None:
    for rep in range(1, len(pid.repetitions(3)) + 1):
        if pid.get(3, rep, 5) == INS_TYPE and pid.get(3, rep, 4, 2) not in INS_OIDS:
            text = "identifier typed INS has an assigning authority that is not an INS OID"
            out.append(Finding(TABLE_VALUE, text, "PID", 3, W, repetition=rep, component=4))
    received = False
    for ins in ins_of(pid, 3):
        if ins.null:
            if event.code != "A47":
                text = 'INS is the HL7 null "" (a removal); only an A47 removes an INS'
                out.append(Finding(TABLE_VALUE, text, "PID", 3, W, repetition=ins.repetition))
            continue
        received = True
        if not ins.key_valid:
            severity = W if ins.test else E
            text = "INS is not 15 characters or its check key does not match its first 13"
            out.append(
                Finding(DATA_TYPE, text, "PID", 3, severity, repetition=ins.repetition, component=1)
            )
    status = identity_status(message)
    if not status.raw:
        text = "identity reliability code is missing"
        out.append(Finding(REQUIRED_MISSING, text, "PID", 32, W))
    elif received and not status.qualified:
        out.append(Finding(TABLE_VALUE, RULE_NO_VALI, "PID", 32, W))


__all__ = ["UNSUPPORTED_EVENT", "required_segments", "validate"]
