"""Building HL7v2 acknowledgements (original mode AA/AE/AR) with ERR segments.

The ACK mirrors the sender: its MSH-3/4 are the message's MSH-5/6 and vice versa, it
keeps MSH-11, MSH-12 and MSH-18, and it is encoded in the message's character set.
ERR-3 carries an HL7 table 0357 code; ERR-5 can carry an application code (ANS 900-906).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.formats.hl7v2.escape import escape
from engine.formats.hl7v2.header import DEFAULT_DELIMITERS, Delimiters, Header
from engine.message import new_id

TABLE_0357 = {
    0: "Message accepted",
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    103: "Table value not found",
    200: "Unsupported message type",
    201: "Unsupported event code",
    202: "Unsupported processing id",
    203: "Unsupported version id",
    204: "Unknown key identifier",
    205: "Duplicate key identifier",
    206: "Application record locked",
    207: "Application internal error",
}

ENGINE_APPLICATION = "PASSERELLE"


@dataclass(frozen=True, slots=True)
class AckError:
    """One ERR segment.

    Attributes:
        code: HL7 table 0357 code (ERR-3).
        text: human-readable diagnostic (ERR-8), patient-free.
        severity: ``E`` error, ``W`` warning, ``I`` information (ERR-4).
        segment: segment id of the location (ERR-2.1), if any.
        field: field position of the location (ERR-2.3), if any.
        application_code: application error code (ERR-5.1), e.g. an ANS code 900-906.
    """

    code: int
    text: str
    severity: str = "E"
    segment: str | None = None
    field: int | None = None
    application_code: str | None = None


def _timestamp() -> str:
    return datetime.now().astimezone().strftime("%Y%m%d%H%M%S%z")


def _err_segment(err: AckError, d: Delimiters) -> str:
    c = d.component
    location = ""
    if err.segment:
        location = c.join([err.segment, "1", str(err.field) if err.field else ""]).rstrip(c)
    code = c.join([str(err.code), TABLE_0357.get(err.code, ""), "HL70357"])
    app = escape(err.application_code, d) if err.application_code else ""
    fields = ["ERR", "", location, code, err.severity, app, "", "", escape(err.text, d)]
    return d.field.join(fields)


def build_ack(
    header: Header | None,
    code: str,
    errors: Sequence[AckError] = (),
    *,
    text: str = "",
    control_id: str | None = None,
    codec: str | None = None,
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

    Returns:
        The ACK as bytes, segments separated by CR, without MLLP framing.
    """
    d = header.delimiters if header else DEFAULT_DELIMITERS
    f = d.field
    out_codec = codec or (header.codec if header else "utf-8")
    if header is not None:
        sending_app, sending_fac = header.field(5) or ENGINE_APPLICATION, header.field(6)
        receiving_app, receiving_fac = header.field(3), header.field(4)
        trigger = header.trigger_event
        processing, version, charset = header.field(11) or "P", header.field(12), header.field(18)
        acked = header.control_id
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
    segments.extend(_err_segment(e, d) for e in errors)
    return ("\r".join(segments) + "\r").encode(out_codec, errors="replace")


__all__ = ["ENGINE_APPLICATION", "TABLE_0357", "AckError", "build_ack"]
