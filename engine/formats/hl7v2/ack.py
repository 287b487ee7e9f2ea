"""HL7v2 acknowledgements: original mode (AA/AE/AR) and enhanced mode (CA/CE/CR + AA/AE/AR).

The ACK mirrors the sender: its MSH-3/4 are the message's MSH-5/6 and vice versa, it
keeps MSH-11, MSH-12 and MSH-18, and it is encoded in the message's character set.
ERR-3 carries an HL7 table 0357 code; ERR-5 can carry an application code (ANS 900-906).

Which ACK to send (HL7 v2.5 ch. 2 §2.9-2.10, implemented by :func:`decide_ack`):

* **Original mode** when MSH-15 and MSH-16 are both empty: one acknowledgement, MSA-1
  ``AA``/``AE``/``AR``. Ask for it with ``stage=ACCEPT`` (Passerelle answers at intake,
  having taken responsibility for the message); ``stage=APPLICATION`` gives None.
* **Enhanced mode** when either is valued: an accept (commit) ACK ``CA``/``CE``/``CR``
  under the MSH-15 condition, then an application ACK ``AA``/``AE``/``AR`` under MSH-16.
  Conditions (table 0155): ``AL`` always, ``NE`` never, ``ER`` only on error/reject,
  ``SU`` only on success. An empty or unknown value counts as ``AL`` (HL7 requires both
  fields in enhanced mode; answering is the conservative reading -- an unwanted ACK is
  harmless, a missing one stalls the sender).
* An ACK is never acknowledged in original mode; in enhanced mode an incoming ACK gets at
  most an accept ACK (when its MSH-15 asks for one).
* No readable MSH (``header`` None): original mode, ``AR`` at the accept stage.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from engine.formats.hl7v2.escape import escape
from engine.formats.hl7v2.header import (
    DEFAULT_DELIMITERS,
    INVALID_CODE,
    MAX_CONTROL_ID,
    Delimiters,
    Header,
    code_fact,
)
from engine.message import new_id

TABLE_0357 = {
    0: "Message accepted",
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    103: "Table value not found",
    104: "Value too long",
    198: "Non-conformant cardinality",
    199: "Other HL7 error",
    200: "Unsupported message type",
    201: "Unsupported event code",
    202: "Unsupported processing id",
    203: "Unsupported version id",
    204: "Unknown key identifier",
    205: "Duplicate key identifier",
    206: "Application record locked",
    207: "Application internal error",
}

ANS_APPLICATION_ERRORS = {
    "900": "Version du document incorrecte lors d'une demande de remplacement/suppression",
    "901": "Auteur non autorisé à remplacer ou supprimer un document",
    "902": "Identifiant patient inconnu",
    "903": "INS non présent dans le document",
    "904": "L'INS transmis ne correspond pas exactement à celui stocké dans la base du "
    "consommateur",
    "905": "L'INS transmis n'est pas complet",
    "906": "Erreur 'Autre'",
}
"""ANS user table ``applicationErrorCondition`` (ERR-5), from the CI-SIS volets
"Transmission de documents CDA en HL7v2" and "LPS CDA MSSanté" (page error-codes)."""

ENGINE_APPLICATION = "PASSERELLE"


class AckOutcome(StrEnum):
    """What happened to the message: maps to AA/CA, AE/CE, AR/CR."""

    ACCEPTED = "accepted"
    ERROR = "error"
    REJECTED = "rejected"


class AckStage(StrEnum):
    """Which acknowledgement: the accept (commit) one, or the application one."""

    ACCEPT = "accept"
    APPLICATION = "application"


_ORIGINAL = {AckOutcome.ACCEPTED: "AA", AckOutcome.ERROR: "AE", AckOutcome.REJECTED: "AR"}
_COMMIT = {AckOutcome.ACCEPTED: "CA", AckOutcome.ERROR: "CE", AckOutcome.REJECTED: "CR"}


@dataclass(frozen=True, slots=True)
class ErrCoding:
    """Coding-system names written in ERR-3.3 and ERR-5.3."""

    condition_system: str = "HL70357"
    application_system: str = "HL70533"


HL7_CODING = ErrCoding()
ANS_CODING = ErrCoding("messageErrorCondition", "applicationErrorCode")
"""Symbolic names used by the ANS volets (``207^Application error^messageErrorCondition``)."""


@dataclass(frozen=True, slots=True)
class AckError:
    """One ERR segment.

    Attributes:
        code: HL7 table 0357 code (ERR-3).
        text: human-readable diagnostic (ERR-8), patient-free.
        severity: ``E`` error, ``W`` warning, ``I`` information (ERR-4).
        segment: segment id of the location (ERR-2.1), if any.
        field: field position of the location (ERR-2.3), if any.
        application_code: application error code (ERR-5.1), e.g. an ANS code 900-906 (its
            ANS label goes in ERR-5.2); other values are written as given.
    """

    code: int
    text: str
    severity: str = "E"
    segment: str | None = None
    field: int | None = None
    application_code: str | None = None


def ack_mode(header: Header | None) -> Literal["original", "enhanced"]:
    """``enhanced`` when MSH-15 or MSH-16 is valued, else ``original``."""
    if header is None:
        return "original"
    valued = header.accept_ack_type.strip() or header.application_ack_type.strip()
    return "enhanced" if valued else "original"


def outcome_for_code(code: int) -> AckOutcome:
    """A default outcome for a table 0357 code: 0 accepted; 200-203 (MSH-9/11/12 not
    supported) and 207 (receiver-side failure, resend later) rejected; others error."""
    if code == 0:
        return AckOutcome.ACCEPTED
    if 200 <= code <= 203 or code == 207:
        return AckOutcome.REJECTED
    return AckOutcome.ERROR


def _condition_met(condition: str, outcome: AckOutcome) -> bool:
    cond = condition.strip().upper()
    if cond == "NE":
        return False
    if cond == "ER":
        return outcome is not AckOutcome.ACCEPTED
    if cond == "SU":
        return outcome is AckOutcome.ACCEPTED
    return True  # AL, empty, unknown


def decide_ack(
    header: Header | None, outcome: AckOutcome, *, stage: AckStage = AckStage.ACCEPT
) -> str | None:
    """MSA-1 to send for ``outcome`` at ``stage``, or None when no ACK is due (module doc)."""
    outcome = AckOutcome(outcome)
    stage = AckStage(stage)
    is_ack = header is not None and header.message_type == "ACK"
    if ack_mode(header) == "original":
        if stage is AckStage.APPLICATION or is_ack:
            return None
        return _ORIGINAL[outcome] if header is not None else "AR"
    assert header is not None
    if stage is AckStage.ACCEPT:
        return _COMMIT[outcome] if _condition_met(header.accept_ack_type, outcome) else None
    if is_ack or not _condition_met(header.application_ack_type, outcome):
        return None
    return _ORIGINAL[outcome]


def acknowledge(
    header: Header | None,
    outcome: AckOutcome,
    errors: Sequence[AckError] = (),
    *,
    stage: AckStage = AckStage.ACCEPT,
    text: str = "",
    control_id: str | None = None,
    codec: str | None = None,
    coding: ErrCoding = HL7_CODING,
) -> bytes | None:
    """The ACK bytes :func:`decide_ack` calls for, or None when none is due."""
    code = decide_ack(header, outcome, stage=stage)
    if code is None:
        return None
    return build_ack(
        header, code, errors, text=text, control_id=control_id, codec=codec, coding=coding
    )


def _echoable(control_id: str) -> bool:
    """MSA-2 repeats MSH-10 unless it is not a valid one (control characters, too long):
    then it stays empty rather than send back (and show in the sender's logs) whatever
    the field held."""
    return control_id.isprintable() and len(control_id) <= MAX_CONTROL_ID


_stamp: tuple[int, str] = (-1, "")


def _timestamp() -> str:
    """MSH-7 of an ACK: local time to the second with its offset, formatted once a second."""
    global _stamp
    second = int(time.time())
    if _stamp[0] != second:
        _stamp = (second, datetime.fromtimestamp(second).astimezone().strftime("%Y%m%d%H%M%S%z"))
    return _stamp[1]


def _err_segment(err: AckError, d: Delimiters, coding: ErrCoding) -> str:
    c = d.component
    location = ""
    if err.segment:
        location = c.join([err.segment, "1", str(err.field) if err.field else ""]).rstrip(c)
    code = c.join([str(err.code), TABLE_0357.get(err.code, ""), coding.condition_system])
    app = ""
    if err.application_code:
        label = ANS_APPLICATION_ERRORS.get(err.application_code.strip())
        app = escape(err.application_code, d)
        if label:
            app = c.join([app, escape(label, d), coding.application_system])
    fields = ["ERR", "", location, code, err.severity, app, "", "", escape(err.text, d)]
    return d.field.join(fields).rstrip(d.field)


def build_ack(
    header: Header | None,
    code: str,
    errors: Sequence[AckError] = (),
    *,
    text: str = "",
    control_id: str | None = None,
    codec: str | None = None,
    coding: ErrCoding = HL7_CODING,
) -> bytes:
    """Build an ACK for a message whose MSH was read, or a bare one when ``header`` is None.

    Args:
        header: the message's MSH; None when nothing could be read (default delimiters,
            empty MSA-2, UTF-8).
        code: MSA-1 (``AA``, ``AE``, ``AR``, or enhanced ``CA``, ``CE``, ``CR``).
        errors: ERR segments to append.
        text: MSA-3 text message (kept short and patient-free).
        control_id: MSH-10 of the ACK; a new id when omitted.
        codec: override the output codec (defaults to the message's).
        coding: coding-system names for ERR-3.3/ERR-5.3 (:data:`ANS_CODING` for ANS volets).

    Returns:
        The ACK as bytes, segments separated by CR, without MLLP framing. Characters the
        codec cannot encode are replaced by ``?``.
    """
    d = header.delimiters if header else DEFAULT_DELIMITERS
    f = d.field
    out_codec = codec or (header.codec if header else "utf-8")
    if header is not None:
        sending_app, sending_fac = header.field(5) or ENGINE_APPLICATION, header.field(6)
        receiving_app, receiving_fac = header.field(3), header.field(4)
        trigger = code_fact(header.trigger_event).replace(INVALID_CODE, "")
        processing, version, charset = header.field(11) or "P", header.field(12), header.field(18)
        acked = header.control_id if _echoable(header.control_id) else ""
    else:
        sending_app, sending_fac, receiving_app, receiving_fac = ENGINE_APPLICATION, "", "", ""
        trigger, processing, version, charset, acked = "", "P", "2.5", "", ""
    msh_type = d.component.join(["ACK", trigger, "ACK"]) if trigger else "ACK"
    msh = [
        "MSH",
        d.encoding_characters,
        sending_app,
        sending_fac,
        receiving_app,
        receiving_fac,
        _timestamp(),
        "",
        msh_type,
        control_id or new_id()[-20:],  # MSH-10 is ST(20) in v2.5
        processing,
        version,
    ]
    if charset:
        msh += ["", "", "", "", "", charset]
    segments = [f.join(msh)]
    msa = ["MSA", code, acked]
    if text:
        msa.append(escape(text, d))
    segments.append(f.join(msa))
    segments.extend(_err_segment(e, d, coding) for e in errors)
    return ("\r".join(segments) + "\r").encode(out_codec, errors="replace")


__all__ = [
    "ANS_APPLICATION_ERRORS",
    "ANS_CODING",
    "ENGINE_APPLICATION",
    "HL7_CODING",
    "TABLE_0357",
    "AckError",
    "AckOutcome",
    "AckStage",
    "ErrCoding",
    "ack_mode",
    "acknowledge",
    "build_ack",
    "decide_ack",
    "outcome_for_code",
]
