"""The PAM-FR part of HL7v2 intake: event policy input, facts and validation of one ADT.

:func:`review` parses the message once and returns what :func:`engine.intake.hl7v2.examine`
needs to decide: whether the event is a PAM-FR one, the routing facts, the validation
findings, and the metadata to store with the message. It does no I/O and never raises
for bad content (a body the parser refuses becomes a finding).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import ParseError
from engine.formats.hl7v2.header import Header, code_fact
from engine.formats.hl7v2.pamfr.events import PamEvent, pam_event, unknown_event_reason
from engine.formats.hl7v2.pamfr.facts import routing_facts
from engine.formats.hl7v2.pamfr.findings import Finding, report_json, sort_findings
from engine.formats.hl7v2.pamfr.validation import validate
from engine.formats.hl7v2.parser import parse

FINDINGS = "validation.findings"
"""Metadata: number of findings (errors and warnings), as text."""
ERRORS = "validation.errors"
"""Metadata: number of findings of severity E, as text."""
REPORT = "validation.report"
"""Metadata: compact JSON list of the findings (errors first, at most REPORT_LIMIT)."""
REPORT_LIMIT = 50


@dataclass(frozen=True, slots=True)
class PamReview:
    """What PAM-FR says about one ADT message.

    Attributes:
        event: the PAM-FR event, None when MSH-9.2 is not one (A08 included).
        unknown_reason: why the event is not taken ("" when it is).
        facts: routing facts (empty for unknown events or an unparseable body).
        findings: validation findings, errors first (empty when not validated).
        parse_error: the parser's refusal of the body, if any.
    """

    event: PamEvent | None
    unknown_reason: str = ""
    facts: dict[str, str] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    parse_error: ParseError | None = None

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.is_error)

    def metadata(self, validated: bool) -> dict[str, str]:
        """Facts plus, when ``validated`` (and the event is a PAM-FR one), the finding
        counts and report."""
        out = dict(self.facts)
        if validated and self.event is not None:
            out[FINDINGS] = str(len(self.findings))
            out[ERRORS] = str(len(self.errors))
            if self.findings:
                out[REPORT] = report_json(self.findings, REPORT_LIMIT)
        return out


def review(frame: bytes, header: Header, *, validated: bool) -> PamReview:
    """Review an ADT ``frame`` whose MSH is ``header``; run the validator when ``validated``."""
    event = pam_event(header.trigger_event)
    if event is None:
        return PamReview(None, unknown_event_reason(code_fact(header.trigger_event)))
    try:
        message = parse(frame, codec=header.read_codec, errors=header.decode_errors)
    except ParseError as exc:
        finding = Finding(exc.code, f"message body cannot be read: {exc}", exc.segment, exc.field)
        return PamReview(event, findings=(finding,), parse_error=exc)
    facts = routing_facts(message, event)
    findings = tuple(sort_findings(validate(message, event))) if validated else ()
    return PamReview(event, facts=facts, findings=findings)


__all__ = [
    "ERRORS",
    "FINDINGS",
    "REPORT",
    "REPORT_LIMIT",
    "PamReview",
    "review",
]
