"""Hard structural limits on one HL7v2 frame, checked on the raw bytes before any parsing.

A channel bounds the work one message can cost: the number of segments, the repetitions of
any one field and the length of any one field (the frame size is bounded earlier, by the
channel's ``max_frame_size``). :func:`check_limits` runs right after the MSH is read and
before the PAM-FR review, the validation or the DMP gating, so an abusive frame is refused
for the price of a few ``bytes.count`` calls.

Cost contract: linear in the frame size. The common case (a frame with fewer repetition
characters than the limit, shorter than the field limit, with fewer lines than the segment
limit) is three ``bytes.count`` calls; only a frame that may break a limit is split, and
each segment at most once.

A breach names the limit and where it was passed (segment id, field number), never a value
read from the message: its text goes to the ACK (MSA-3, ERR-8), the store and the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.formats.hl7v2.ack import AckError
from engine.formats.hl7v2.header import HEADER_SEGMENTS, Header

CARDINALITY = 198
"""HL7 table 0357 "Non-conformant cardinality": too many segments or repetitions."""
TOO_LONG = 104
"""HL7 table 0357 "Value too long": a field longer than the channel allows."""
_LINES = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class FrameLimits:
    """Per-channel limits (``None``: not limited beyond the frame size)."""

    max_segments: int = 10_000
    max_repetitions: int = 1_000
    max_field_length: int | None = None


@dataclass(frozen=True, slots=True)
class LimitBreach:
    """The first limit a frame passes: the 0357 code, where, and a value-free text."""

    code: int
    text: str
    segment: str | None = None
    field: int | None = None

    def ack_error(self) -> AckError:
        return AckError(self.code, self.text, segment=self.segment, field=self.field)


def check_limits(frame: bytes, header: Header, limits: FrameLimits) -> LimitBreach | None:
    """The first limit ``frame`` (whose MSH is ``header``) breaks, or None."""
    lines = max(frame.count(b"\r"), frame.count(b"\n")) + 1
    if lines > limits.max_segments:
        count = sum(1 for line in _LINES.split(frame) if line.strip())
        if count > limits.max_segments:
            text = f"the message has more segments than the channel allows ({limits.max_segments})"
            return LimitBreach(CARDINALITY, text)
    d = header.delimiters
    try:
        fs, rs = d.field.encode(header.codec), d.repetition.encode(header.codec)
    except UnicodeEncodeError:  # delimiters outside the charset: the parser refuses later
        return None
    max_length = limits.max_field_length
    many_reps = frame.count(rs) >= limits.max_repetitions
    long_field = max_length is not None and len(frame) > max_length
    if not (many_reps or long_field):
        return None
    for line in _LINES.split(frame):
        suspect = many_reps and line.count(rs) >= limits.max_repetitions
        if suspect or (max_length is not None and len(line) > max_length):
            breach = _field_breach(line, fs, rs, limits)
            if breach is not None:
                return breach
    return None


def _field_breach(line: bytes, fs: bytes, rs: bytes, limits: FrameLimits) -> LimitBreach | None:
    fields = line.split(fs)
    name = fields[0].decode("latin-1")
    if not (len(name) == 3 and name.isascii() and name.isalnum()):
        name = ""
    shift = 1 if name in HEADER_SEGMENTS else 0  # MSH-1 is the separator itself
    for n, value in enumerate(fields[1:], 1):
        if shift and n == 1:  # MSH-2: the encoding characters
            continue
        where = f"{name}-{n + shift}" if name else f"field {n + shift}"
        if value.count(rs) >= limits.max_repetitions:
            text = (
                f"{where} has more repetitions than the channel allows ({limits.max_repetitions})"
            )
            return LimitBreach(CARDINALITY, text, name or None, n + shift)
        if limits.max_field_length is not None and len(value) > limits.max_field_length:
            text = f"{where} is longer than the channel allows ({limits.max_field_length} bytes)"
            return LimitBreach(TOO_LONG, text, name or None, n + shift)
    return None


__all__ = ["CARDINALITY", "TOO_LONG", "FrameLimits", "LimitBreach", "check_limits"]
