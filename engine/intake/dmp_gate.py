"""DMP gating at HL7v2 intake: refuse, before the ACK, an ORU/MDM whose CDA documents may
not go to the DMP (``hl7: {dmp_gating: refuse}``; see ``docs/pam-fr.md``).

:func:`review` parses the message once and applies the same rules as the ``dmp_xds``
destination (:mod:`engine.formats.xds.gating`, default :class:`GatePolicy`): a qualified
INS-NIR (PID-32 ``VALI``), the CDA INS equal to PID-3, complete INS traits in the CDA
header, no opposition (ZFA-9 ``IO``) and an open DMP (ZFA-1). It does no I/O and never
raises for bad content.

A message is gated when it carries at least one CDA document (OBX ED ``^TEXT^XML``) and
does not say ``DESTDMP=N``: an absent ``DESTDMP`` flag counts as DMP-bound, as for the
``dmp_from_hl7`` transform, whose payload the destination then sends. Each refusal is one
ERR (ERR-3 ``207``, ERR-5 the ANS code ``903``…``906``); texts never name the patient.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import DocumentError, ParseError
from engine.formats.cda.hl7_carried import extract_documents, identity, meta_flags
from engine.formats.cda.ins import Ins
from engine.formats.cda.reader import read_cda
from engine.formats.hl7v2.ack import AckError
from engine.formats.hl7v2.header import Header
from engine.formats.hl7v2.parser import parse
from engine.formats.xds.gating import FACT_DMP_STATUS, DmpRefusal, check_cda, check_facts, hl7_facts

GATED_TYPES = frozenset({"ORU", "MDM"})
"""MSH-9.1 of the messages that can carry CDA documents for the DMP."""
APPLICATION_ERROR = 207
UNREADABLE = "906"
"""ANS code ("Erreur 'Autre'") for a carried document that is not a readable CDA."""
REFUSALS = "dmp.refusals"
"""Metadata of a refused message: the ANS codes, comma-separated, in ERR order."""


@dataclass(frozen=True, slots=True)
class GateReview:
    """What DMP gating says about one message.

    Attributes:
        refusals: why the documents may not go to the DMP (empty: let it through).
        parse_error: the parser's refusal of the body, if any (then no refusals).
    """

    refusals: tuple[DmpRefusal, ...] = ()
    parse_error: ParseError | None = None

    @property
    def reason(self) -> str:
        """The dead-letter style reason (patient-free); "" when nothing is refused."""
        if self.parse_error is not None:
            return f"DMP gating: message body cannot be read: {self.parse_error}"
        if not self.refusals:
            return ""
        return "not sent to the DMP: " + "; ".join(str(r) for r in self.refusals)

    def ack_errors(self, limit: int) -> tuple[AckError, ...]:
        """One ERR per refusal (at most ``limit``; the ANS label goes in ERR-5.2, the reason in
        ERR-8), or the parser's error."""
        if self.parse_error is not None:
            exc = self.parse_error
            return (AckError(exc.code, str(exc), segment=exc.segment, field=exc.field),)
        return tuple(
            AckError(APPLICATION_ERROR, r.reason, application_code=r.code)
            for r in self.refusals[:limit]
        )


def review(frame: bytes, header: Header) -> GateReview:
    """Gate an ORU/MDM ``frame`` whose MSH is ``header`` (other types: not gated)."""
    if header.message_type not in GATED_TYPES:
        return GateReview()
    try:
        msg = parse(frame, codec=header.read_codec, errors=header.decode_errors)
    except ParseError as exc:
        return GateReview(parse_error=exc)
    if not meta_flags(msg).get("DESTDMP", True):
        return GateReview()
    try:
        carried = extract_documents(msg)
    except DocumentError as exc:
        refusal = DmpRefusal(UNREADABLE, f"a carried document cannot be decoded ({exc.kind})")
        return GateReview((refusal,))
    if not carried:
        return GateReview()
    refusals: list[DmpRefusal] = []
    cda_ins: list[Ins | None] = []
    for doc in carried:
        try:
            header_ = read_cda(doc.content).header
        except DocumentError as exc:
            refusals.append(
                DmpRefusal(UNREADABLE, f"OBX[{doc.obx}] is not a usable CDA ({exc.kind})")
            )
            continue
        cda_ins.append(header_.patient.ins if header_.patient else None)
        for refusal in check_cda(header_):
            refusals.append(DmpRefusal(refusal.code, f"OBX[{doc.obx}]: {refusal.reason}"))
    facts = hl7_facts(identity(msg), cda_ins)
    facts[FACT_DMP_STATUS] = msg.get("ZFA-1")
    refusals = check_facts(facts) + refusals
    return GateReview(tuple(dict.fromkeys(refusals)))


__all__ = ["APPLICATION_ERROR", "GATED_TYPES", "REFUSALS", "UNREADABLE", "GateReview", "review"]
