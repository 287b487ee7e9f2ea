"""HL7v2 intake: examine a received message, commit it, and build the acknowledgement.

Any channel that receives HL7v2 (MLLP today; files and HTTP later) calls :func:`receive`
with the frame bytes. The decision itself is :func:`examine`, a pure function that
``passerelle test`` also uses, so a YAML test case sees exactly the ACK a sender would.

Verdicts:
    accept  committed in state ``received`` and queued; positive ACK (AA/CA).
    drop    committed, then ended ``filtered`` with the reason by the router (e.g. an event
            the channel is configured to ignore); positive ACK — the sender must not resend.
    reject  recorded in state ``rejected`` with the reason; negative ACK (AE/AR/CE/CR) with
            ERR segments, so the sender knows the message was not taken.

A store failure during accept or drop is answered AR/CR with ERR 207 ("resend later"),
since nothing was committed.

Before any profile check, every message is held to the channel's limits (segments,
repetitions of a field, field length: AE with ERR 198/104 naming the limit; see
:mod:`engine.intake.limits`) and its bytes must be valid in the declared charset, else
``on_decode_error`` decides (:mod:`engine.intake.charset`). Reasons and ERR texts name
fields and rules, never received values.

PAM-FR (``profile="pam_fr"``, ADT messages only; see ``docs/pam-fr.md``):

* an event PAM-FR does not use (A08 included) is dropped with AA (``unknown_events=
  "accept"``, PAM-FR §5.3.2: unknown events are ignored) or refused with AE and ERR 201
  (``"refuse"``);
* ``validation="strict"``: the message is reviewed before the ACK; the routing facts
  (``pam.*``, ``ins.*``, ``identity.*``, ``dmp.*``) and the findings (``validation.*``)
  join the metadata; a message with an error finding is refused with AE and one ERR per
  finding (segment, field, 0357 code) and recorded rejected with the same metadata;
  warnings go back as ERR segments of severity W in the AA;
* ``"warn"`` and ``"off"``: the ACK depends only on MSH (the fast path: frame, header,
  charset, commit, ACK). The review is deferred (metadata :data:`DEFERRED_REVIEW`) and
  runs in the pipeline before routing (:func:`review_after_ack`): the same facts, and in
  ``warn`` mode the findings, are recorded with the routing outcome; the AA carries no
  ERR warnings.

DMP gating (``dmp_gating="refuse"``, ORU and MDM only; see :mod:`engine.intake.dmp_gate`):
a message carrying CDA documents for the DMP whose identity or documents the DMP gating
refuses is answered AE with one ERR per refusal (ERR-3 207, ERR-5 the ANS code 903-906,
ANS coding-system names) and recorded rejected. ``"off"`` (default): no extra parsing.

AE, not AR, for refusals on content: HL7 v2.5 §2.9.2 keeps AR for messages refused for
reasons unrelated to their content (and senders commonly resend after an AR); a
PAM-FR error is in the content and resending the same bytes cannot fix it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from engine.components import Intake
from engine.errors import ParseError, PasserelleError
from engine.formats.hl7v2.ack import (
    ANS_CODING,
    HL7_CODING,
    AckError,
    AckOutcome,
    ErrCoding,
    acknowledge,
    outcome_for_code,
)
from engine.formats.hl7v2.header import Header, code_fact, read_header
from engine.formats.hl7v2.pamfr.events import pam_event, unknown_event_reason
from engine.formats.hl7v2.pamfr.findings import Finding, Severity
from engine.formats.hl7v2.parser import decode_error, read_stored_header
from engine.intake import dmp_gate
from engine.intake.charset import DATA_TYPE, OnDecodeError, read_damaged
from engine.intake.charset import refusal as charset_refusal
from engine.intake.limits import FrameLimits, check_limits
from engine.intake.offload import run_off_loop
from engine.intake.pam_fr import PamReview, review
from engine.message import HL7V2
from engine.router import DROP_REASON

log = logging.getLogger(__name__)

INLINE_EXAMINE_BYTES = 16 * 1024
"""Frames up to this size are examined on the event loop when the options are cheap."""


STORE_FAILED_TEXT = "message could not be stored, please resend"
MAX_ACK_ERRORS = 20
"""At most this many ERR segments in one ACK (the metadata report keeps more)."""
UNSUPPORTED_EVENT = 201
DEFERRED_REVIEW = "intake.deferred_review"
"""Metadata: the PAM-FR review (``warn`` or ``off``) runs after the ACK, in the pipeline."""

Profile = Literal["pam_fr", "none"]
ValidationMode = Literal["off", "warn", "strict"]
UnknownEvents = Literal["accept", "refuse"]
DmpGating = Literal["off", "refuse"]


class Verdict(StrEnum):
    ACCEPT = "accept"
    DROP = "drop"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Hl7IntakeOptions:
    """Per-channel intake settings.

    Attributes:
        default_codec: codec used when MSH-18 is empty.
        profile: ``pam_fr`` applies the PAM-FR rules to ADT messages; ``none`` only reads MSH.
        validation: ``off``, ``warn`` (accept, record the findings) or ``strict`` (refuse
            a message with an error finding, AE).
        unknown_events: an event PAM-FR does not use (A08 included) is dropped with AA
            (``accept``) or refused with AE and ERR 201 (``refuse``).
        dmp_gating: ``refuse`` answers AE (ERR-5 ANS 903-906) to an ORU/MDM whose CDA
            documents the DMP gating refuses; ``off`` does not look.
        limits: segments, repetitions and field length allowed (checked before any other
            work; a breach is answered AE with ERR 198 or 104 naming the limit).
        on_decode_error: a message whose bytes are not valid in its declared charset is
            refused (``reject``: AE, ERR 102 at the first bad byte's segment and field),
            read with U+FFFD for the bad bytes (``replace``) or read in ``fallback_codec``
            (``fallback``); the last two are accepted with an ERR warning, and the decision
            is recorded in the metadata (``hl7.decode``, ``hl7.codec``) so that every
            reader downstream sees the same text (:func:`~engine.formats.hl7v2.parse_stored`).
        fallback_codec: the codec of ``fallback``.
    """

    default_codec: str = "utf-8"
    profile: Profile = "pam_fr"
    validation: ValidationMode = "warn"
    unknown_events: UnknownEvents = "accept"
    dmp_gating: DmpGating = "off"
    limits: FrameLimits = field(default_factory=FrameLimits)
    on_decode_error: OnDecodeError = "reject"
    fallback_codec: str = "iso8859-1"

    @property
    def costly(self) -> bool:
        """Whether examining a small frame may cost more than reading its MSH (strict
        validation, DMP gating): :func:`receive` then examines it off the event loop."""
        return self.validation == "strict" or self.dmp_gating == "refuse"


@dataclass(frozen=True, slots=True)
class Examination:
    """The intake decision for one message (no I/O done yet).

    Attributes:
        header: MSH as read (leniently for refused messages); None when unreadable.
        verdict: accept, drop or reject.
        reason: why it is dropped or rejected ("" when accepted).
        metadata: facts for the envelope (MSH fields, profile facts); patient-free.
        errors: ERR segments for the ACK (errors when rejected, warnings otherwise).
        outcome: the acknowledgement outcome the verdict calls for.
        coding: coding-system names for ERR-3.3/ERR-5.3 (ANS ones for DMP refusals).
    """

    header: Header | None
    verdict: Verdict
    reason: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    errors: tuple[AckError, ...] = ()
    outcome: AckOutcome = AckOutcome.ACCEPTED
    coding: ErrCoding = HL7_CODING

    def ack(self, *, text: str = "") -> bytes | None:
        """The ACK for this decision, or None when MSH-15 asks for none."""
        return acknowledge(
            self.header, self.outcome, self.errors, text=text or self.reason, coding=self.coding
        )


def examine(frame: bytes, options: Hl7IntakeOptions) -> Examination:
    """Decide what to do with one HL7v2 message. Never raises for bad content."""
    try:
        header = read_header(frame, default_codec=options.default_codec)
    except ParseError as exc:
        lenient = _lenient_header(frame, options)
        error = AckError(exc.code, str(exc), segment=exc.segment, field=exc.field)
        return Examination(
            header=lenient,
            verdict=Verdict.REJECT,
            reason=str(exc),
            metadata=lenient.metadata() if lenient else {},
            errors=(error,),
            outcome=AckOutcome.REJECTED,
        )
    breach = check_limits(frame, header, options.limits)
    if breach is not None:
        return _refused(
            header, AckError(breach.code, breach.text, "E", breach.segment, breach.field)
        )
    warning = None
    undecodable = decode_error(frame, header.codec)
    if undecodable is not None:
        read = read_damaged(
            frame, header, undecodable, options.on_decode_error, options.fallback_codec
        )
        if read is None:
            return _refused(header, charset_refusal(undecodable))
        header, warning = read
    exam = _examine_content(frame, header, options)
    if warning is None or exam.verdict is Verdict.REJECT:
        return exam
    return replace(exam, errors=(warning, *exam.errors)[:MAX_ACK_ERRORS])


def _refused(header: Header, error: AckError) -> Examination:
    """AE for a content error found before the profile checks (limits, charset)."""
    return Examination(
        header, Verdict.REJECT, error.text, header.metadata(), (error,), AckOutcome.ERROR
    )


def _examine_content(frame: bytes, header: Header, options: Hl7IntakeOptions) -> Examination:
    """The profile checks (PAM-FR, DMP gating) of a frame whose MSH and charset are fine."""
    if options.profile == "pam_fr" and header.message_type == "ADT":
        return _examine_pam_fr(frame, header, options)
    if options.dmp_gating == "refuse" and header.message_type in dmp_gate.GATED_TYPES:
        refused = _dmp_refusal(frame, header)
        if refused is not None:
            return refused
    return Examination(header=header, verdict=Verdict.ACCEPT, metadata=header.metadata())


def _dmp_refusal(frame: bytes, header: Header) -> Examination | None:
    """The AE for an ORU/MDM the DMP gating refuses; None when it may pass (unchanged)."""
    gate = dmp_gate.review(frame, header)
    if not gate.refusals and gate.parse_error is None:
        return None
    metadata = {**header.metadata()}
    outcome, coding = AckOutcome.ERROR, ANS_CODING
    if gate.parse_error is not None:
        outcome, coding = outcome_for_code(gate.parse_error.code), HL7_CODING
    else:
        metadata[dmp_gate.REFUSALS] = ",".join(r.code for r in gate.refusals)
    errors = gate.ack_errors(MAX_ACK_ERRORS)
    return Examination(header, Verdict.REJECT, gate.reason, metadata, errors, outcome, coding)


def _examine_pam_fr(frame: bytes, header: Header, options: Hl7IntakeOptions) -> Examination:
    if pam_event(header.trigger_event) is None:
        reason, metadata = unknown_event_reason(code_fact(header.trigger_event)), header.metadata()
        if options.unknown_events == "accept":
            return Examination(header, Verdict.DROP, reason, metadata)
        error = AckError(UNSUPPORTED_EVENT, reason, segment="MSH", field=9)
        return Examination(header, Verdict.REJECT, reason, metadata, (error,), AckOutcome.ERROR)
    if options.validation != "strict":  # the ACK does not depend on the review: defer it
        metadata = {**header.metadata(), DEFERRED_REVIEW: options.validation}
        return Examination(header, Verdict.ACCEPT, metadata=metadata)
    pam = review(frame, header, validated=True)
    metadata = {**header.metadata(), **pam.metadata(True)}
    if pam.errors:
        return _refusal(header, pam, metadata)
    warnings = tuple(f.ack_error(Severity.WARNING) for f in pam.findings[:MAX_ACK_ERRORS])
    return Examination(header, Verdict.ACCEPT, metadata=metadata, errors=warnings)


def review_after_ack(raw: bytes, metadata: Mapping[str, str]) -> dict[str, str]:
    """The PAM-FR facts and findings whose review intake deferred past the ACK.

    Returns ``{}`` for a message without :data:`DEFERRED_REVIEW`; otherwise what strict
    mode would have stored at intake (routing facts, and in ``warn`` mode the finding
    counts and report). The pipeline runs it before routing and records the result with
    the routing outcome. Pure; never raises for bad content.
    """
    mode = metadata.get(DEFERRED_REVIEW)
    if mode is None:
        return {}
    try:
        header = read_stored_header(raw, metadata)
    except ParseError:  # intake read this header: only a corrupted store gets here
        return {}
    validated = mode == "warn"
    return review(raw, header, validated=validated).metadata(validated)


def _refusal(header: Header, pam: PamReview, metadata: dict[str, str]) -> Examination:
    """Strict mode: refuse with one ERR per finding (errors first, warnings as W)."""
    errors = tuple(f.ack_error() for f in pam.findings[:MAX_ACK_ERRORS])
    outcome = AckOutcome.ERROR
    if pam.parse_error is not None:
        outcome = outcome_for_code(pam.parse_error.code)
    return Examination(header, Verdict.REJECT, _reason(pam.errors), metadata, errors, outcome)


def _reason(errors: tuple[Finding, ...]) -> str:
    first = errors[0]
    where = f" at {first.location}" if first.location else ""
    return f"PAM-FR validation failed: {len(errors)} error(s), first{where}: {first.text}"


def _lenient_header(frame: bytes, options: Hl7IntakeOptions) -> Header | None:
    try:
        return read_header(frame, default_codec=options.default_codec, require=False)
    except ParseError:
        return None


async def examine_frame(frame: bytes, options: Hl7IntakeOptions) -> Examination:
    """:func:`examine`, off the event loop when it may be costly.

    A frame over :data:`INLINE_EXAMINE_BYTES`, or any frame of a channel whose options are
    :attr:`~Hl7IntakeOptions.costly`, is examined in a daemon thread
    (:func:`~engine.intake.offload.run_off_loop`): the event loop keeps serving other
    connections and signals, and cancelling the await abandons the examination (nothing
    was committed, no ACK is due: the sender resends).
    """
    if len(frame) > INLINE_EXAMINE_BYTES or options.costly:
        return await run_off_loop(examine, frame, options)
    return examine(frame, options)


async def receive(
    intake: Intake,
    channel: str,
    frame: bytes,
    options: Hl7IntakeOptions,
    connection_metadata: Mapping[str, str] | None = None,
) -> bytes | None:
    """Examine ``frame`` (:func:`examine_frame`), commit it according to the verdict, and
    return the ACK to send (:func:`settle`)."""
    exam = await examine_frame(frame, options)
    return await settle(intake, channel, frame, exam, connection_metadata)


async def settle(
    intake: Intake,
    channel: str,
    frame: bytes,
    exam: Examination,
    connection_metadata: Mapping[str, str] | None = None,
) -> bytes | None:
    """Commit ``frame`` according to ``exam`` and return the ACK to send.

    The positive ACK is built only after the commit returned. Returns None when the
    sender asked for no acknowledgement (enhanced mode, MSH-15).
    """
    metadata = {**exam.metadata, **(connection_metadata or {})}
    extra = {"channel": channel, "control_id": metadata.get("hl7.control_id", "")}
    if exam.verdict is Verdict.REJECT:
        log.warning("Message refused: %s.", exam.reason, extra=extra)
        try:
            await intake.reject(channel, frame, HL7V2, metadata, exam.reason)
        except Exception as exc:  # the refusal stands even if it cannot be recorded
            log.error("Refused message could not be recorded: %s.", type(exc).__name__, extra=extra)
        return exam.ack()
    if exam.verdict is Verdict.DROP:
        log.debug("Message dropped at intake: %s.", exam.reason, extra=extra)
        metadata[DROP_REASON] = exam.reason
    try:
        envelope = await intake.accept(channel, frame, HL7V2, metadata)
    except Exception as exc:  # StoreError by contract; anything else is still no commit
        log.error(
            "Message could not be stored: %s: %s.",
            type(exc).__name__,
            exc,
            extra=extra,
            exc_info=not isinstance(exc, PasserelleError),
        )
        error = AckError(207, STORE_FAILED_TEXT)
        return acknowledge(exam.header, outcome_for_code(207), [error], text=STORE_FAILED_TEXT)
    log.debug("Message committed.", extra={**extra, "message_id": envelope.id})
    return exam.ack(text="")


__all__ = [
    "DATA_TYPE",
    "DEFERRED_REVIEW",
    "DROP_REASON",
    "INLINE_EXAMINE_BYTES",
    "MAX_ACK_ERRORS",
    "STORE_FAILED_TEXT",
    "UNSUPPORTED_EVENT",
    "DmpGating",
    "Examination",
    "Hl7IntakeOptions",
    "OnDecodeError",
    "Profile",
    "UnknownEvents",
    "ValidationMode",
    "Verdict",
    "examine",
    "examine_frame",
    "receive",
    "review_after_ack",
    "settle",
]
