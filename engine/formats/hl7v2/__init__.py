"""HL7v2 (ER7): header peek, acknowledgements, escapes and character sets."""

from __future__ import annotations

from engine.formats.hl7v2.ack import AckError, build_ack
from engine.formats.hl7v2.charsets import codec_for
from engine.formats.hl7v2.escape import escape, unescape
from engine.formats.hl7v2.header import DEFAULT_DELIMITERS, Delimiters, Header, read_header

__all__ = [
    "DEFAULT_DELIMITERS",
    "AckError",
    "Delimiters",
    "Header",
    "build_ack",
    "codec_for",
    "escape",
    "read_header",
    "unescape",
]
