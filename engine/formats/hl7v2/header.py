"""Just enough of MSH to acknowledge and route a message, read straight from the bytes.

:func:`read_header` looks only at the first segment. It is what intake runs on every
frame before the commit, so it avoids building any tree. The full parser lives beside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from engine.errors import ParseError
from engine.formats.hl7v2.charsets import codec_for
from engine.logs import safe_id

BOM = b"\xef\xbb\xbf"
MAX_CONTROL_ID = 199
"""Longest MSH-10 accepted (ST of length 199 from HL7 v2.7 on; v2.5 said 20)."""


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The five HL7v2 separators, from MSH-1 and MSH-2."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def encoding_characters(self) -> str:
        """MSH-2 as it should be written (``^~\\&``)."""
        return f"{self.component}{self.repetition}{self.escape}{self.subcomponent}"


DEFAULT_DELIMITERS = Delimiters()


@dataclass(frozen=True, slots=True)
class Header:
    """MSH fields used for acknowledgement, routing and logs (values kept escaped, raw).

    ``msh[n]`` is MSH-n as a string ("" when absent), for n in 1..21. ``codec`` is the
    declared one (MSH-18 or the channel default; the ACK is encoded in it). When the bytes
    are not valid in it and the channel reads them anyway, ``decoding`` says how:
    ``replace`` (U+FFFD) or ``fallback`` (with ``fallback_codec``).
    """

    delimiters: Delimiters
    msh: tuple[str, ...]
    codec: str
    decoding: str = ""
    fallback_codec: str = ""

    @property
    def read_codec(self) -> str:
        """The codec the message body is read with."""
        return self.fallback_codec if self.decoding == "fallback" else self.codec

    @property
    def decode_errors(self) -> Literal["strict", "replace"]:
        return "replace" if self.decoding == "replace" else "strict"

    def field(self, n: int) -> str:
        return self.msh[n] if n < len(self.msh) else ""

    def component(self, n: int, c: int = 1) -> str:
        """Component ``c`` (1-based) of the first repetition of MSH-n."""
        value = self.field(n).split(self.delimiters.repetition, 1)[0]
        parts = value.split(self.delimiters.component)
        return parts[c - 1] if c <= len(parts) else ""

    @property
    def sending_application(self) -> str:
        return self.component(3)

    @property
    def sending_facility(self) -> str:
        return self.component(4)

    @property
    def receiving_application(self) -> str:
        return self.component(5)

    @property
    def receiving_facility(self) -> str:
        return self.component(6)

    @property
    def message_type(self) -> str:
        return self.component(9, 1)

    @property
    def trigger_event(self) -> str:
        return self.component(9, 2)

    @property
    def message_structure(self) -> str:
        return self.component(9, 3)

    @property
    def control_id(self) -> str:
        """MSH-10 as received (echoed in MSA-2; show it through :attr:`safe_control_id`)."""
        return self.field(10)

    @property
    def safe_control_id(self) -> str:
        """MSH-10 fit for logs, metadata and screens (:func:`engine.logs.safe_id`)."""
        return safe_id(self.field(10))

    @property
    def processing_id(self) -> str:
        return self.component(11)

    @property
    def version(self) -> str:
        return self.component(12)

    @property
    def accept_ack_type(self) -> str:
        return self.field(15)

    @property
    def application_ack_type(self) -> str:
        return self.field(16)

    @property
    def charset(self) -> str:
        return self.field(18).split(self.delimiters.repetition, 1)[0]

    def metadata(self) -> dict[str, str]:
        """Routing facts as envelope metadata (no patient data; the control id through
        :func:`~engine.logs.safe_id`). ``hl7.codec`` is the codec the body is read with,
        ``hl7.decode`` (only when set) how undecodable bytes were read."""
        facts = {
            "hl7.sending_application": self.sending_application,
            "hl7.sending_facility": self.sending_facility,
            "hl7.receiving_application": self.receiving_application,
            "hl7.receiving_facility": self.receiving_facility,
            "hl7.message_type": code_fact(self.message_type),
            "hl7.trigger_event": code_fact(self.trigger_event),
            "hl7.message_structure": code_fact(self.message_structure),
            "hl7.control_id": self.safe_control_id,
            "hl7.processing_id": self.processing_id,
            "hl7.version": self.version,
            "hl7.charset": self.charset,
            "hl7.codec": self.read_codec,
        }
        if self.decoding:
            facts["hl7.decode"] = self.decoding
        return facts


HEADER_SEGMENTS = frozenset({"MSH", "BHS", "FHS"})
_CODE = re.compile(r"[A-Z0-9]{1,4}(?:_[A-Z0-9]{1,4})?")
INVALID_CODE = "invalid"


def code_fact(value: str) -> str:
    """A coded MSH value (MSH-9 components) fit for metadata, reasons and screens: the
    value when it has the shape of an HL7 code (``ADT``, ``A01``, ``ADT_A01``: upper-case
    letters and digits), else :data:`INVALID_CODE` (a malformed header may hold anything,
    names included)."""
    return value if not value or _CODE.fullmatch(value) else INVALID_CODE


def first_segment(raw: bytes) -> bytes:
    """The bytes of the first segment (BOM stripped, up to the first CR or LF)."""
    if raw.startswith(BOM):
        raw = raw[3:]
    cr, lf = raw.find(b"\r"), raw.find(b"\n")
    if cr < 0:
        return raw if lf < 0 else raw[:lf]
    return raw[: cr if lf < 0 or cr < lf else lf]


def delimiters_from(segment: str) -> Delimiters:
    """Read MSH-1 and MSH-2 (or BHS/FHS-1/2) from the decoded text of a header segment.

    The separators must be non-alphanumeric, not whitespace, and pairwise distinct; MSH-2
    needs at least the component, repetition and escape characters (the sub-component one
    is optional; a fifth, truncation, character is allowed and ignored).

    Raises:
        ParseError: code 102 with ``field`` 1 or 2.
    """
    name = segment[:3] if segment[:3] in HEADER_SEGMENTS else "MSH"
    fs = segment[3:4]
    if not fs or fs.isalnum() or fs.isspace():
        raise ParseError(f"{name}-1 field separator is invalid", segment=name, field=1, code=102)
    end = segment.find(fs, 4)
    enc = segment[4:end] if end >= 0 else segment[4:]
    if (
        len(enc) < 3
        or len(set(enc + fs)) != len(enc) + 1
        or any(c.isalnum() or c.isspace() for c in enc)
    ):
        raise ParseError(
            f"{name}-2 encoding characters are invalid", segment=name, field=2, code=102
        )
    return Delimiters(
        field=fs,
        component=enc[0],
        repetition=enc[1],
        escape=enc[2],
        subcomponent=enc[3] if len(enc) > 3 else "",
    )


def peek_charset(seg: bytes) -> str:
    """MSH-18 (first repetition) read from the raw bytes of the first segment.

    MSH-1..MSH-18 are ASCII for every supported charset, so the bytes are split as is.
    """
    sep = seg[3:4]
    if not sep:
        return ""
    fields = seg.split(sep, 18)
    if len(fields) < 18:
        return ""
    rep = seg[5:6] if seg[5:6].isascii() else b"~"
    value = fields[17].split(rep, 1)[0] if rep and rep != sep else fields[17]
    return value.decode("latin-1")


def read_header(raw: bytes, *, default_codec: str = "utf-8", require: bool = True) -> Header:
    """Read MSH from the start of an ER7 message.

    Args:
        raw: the message bytes (no MLLP framing).
        default_codec: codec to use when MSH-18 is empty (the channel's default).
        require: check that MSH-9 (type and trigger) and MSH-10/11/12 are present.

    Raises:
        ParseError: not an HL7v2 message, bad delimiters, undecodable header, unsupported
            charset, or (when ``require``) a mandatory MSH field missing. ``code`` is the
            HL7 table 0357 code to report in ERR-3 and ``field`` the MSH field at fault.
    """
    seg = first_segment(raw)
    if not seg.startswith(b"MSH") or len(seg) < 8:
        raise ParseError("not an HL7v2 message: it does not start with an MSH segment", code=100)
    sep = seg[3:4]
    if sep.isalnum() or sep in b" \r\n\t":
        raise ParseError("MSH-1 field separator is invalid", segment="MSH", field=1, code=102)
    msh18 = peek_charset(seg)
    codec = codec_for(msh18, default_codec)
    try:
        decoded = seg.decode(codec)
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"MSH is not valid {codec}, the character set MSH-18 declares or the channel's default",
            segment="MSH",
            field=18,
            code=207,
        ) from exc
    # Delimiters come from the decoded text: a sender may use a non-ASCII MSH-2 character.
    delims = delimiters_from(decoded)
    parts = decoded.split(delims.field)
    header = Header(delims, ("", delims.field, *parts[1:]), codec)
    if require:
        _check_required(header)
    return header


def _check_required(h: Header) -> None:
    if not h.message_type or (not h.trigger_event and h.message_type != "ACK"):
        raise ParseError(
            "MSH-9 message type is missing or incomplete", segment="MSH", field=9, code=101
        )
    if not h.control_id:
        raise ParseError("MSH-10 message control id is missing", segment="MSH", field=10, code=101)
    if not h.control_id.isprintable():
        raise ParseError(
            "MSH-10 message control id contains control characters (ST is printable text)",
            segment="MSH",
            field=10,
            code=102,
        )
    if len(h.control_id) > MAX_CONTROL_ID:
        raise ParseError(
            f"MSH-10 message control id is longer than {MAX_CONTROL_ID} characters",
            segment="MSH",
            field=10,
            code=104,
        )
    if not h.processing_id:
        raise ParseError("MSH-11 processing id is missing", segment="MSH", field=11, code=101)
    if not h.version:
        raise ParseError("MSH-12 version id is missing", segment="MSH", field=12, code=101)


__all__ = [
    "BOM",
    "DEFAULT_DELIMITERS",
    "HEADER_SEGMENTS",
    "INVALID_CODE",
    "MAX_CONTROL_ID",
    "Delimiters",
    "Header",
    "code_fact",
    "delimiters_from",
    "first_segment",
    "peek_charset",
    "read_header",
]
