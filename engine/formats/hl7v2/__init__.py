"""HL7v2 (ER7): lazy parser, batch splitting, header peek, acknowledgements, escapes, charsets.

See ``docs/hl7v2.md`` for the path syntax, the charset rules and the ACK rules.
"""

from __future__ import annotations

from engine.formats.hl7v2.ack import (
    ANS_APPLICATION_ERRORS,
    ANS_CODING,
    HL7_CODING,
    TABLE_0357,
    AckError,
    AckOutcome,
    AckStage,
    ErrCoding,
    ack_mode,
    acknowledge,
    build_ack,
    decide_ack,
    outcome_for_code,
)
from engine.formats.hl7v2.batch import split_batch
from engine.formats.hl7v2.charsets import codec_for
from engine.formats.hl7v2.escape import escape, unescape
from engine.formats.hl7v2.header import DEFAULT_DELIMITERS, Delimiters, Header, read_header
from engine.formats.hl7v2.message import Message
from engine.formats.hl7v2.parser import decode_error, parse, parse_stored
from engine.formats.hl7v2.path import InvalidPath, Path, parse_path
from engine.formats.hl7v2.segment import Segment

__all__ = [
    "ANS_APPLICATION_ERRORS",
    "ANS_CODING",
    "DEFAULT_DELIMITERS",
    "HL7_CODING",
    "TABLE_0357",
    "AckError",
    "AckOutcome",
    "AckStage",
    "Delimiters",
    "ErrCoding",
    "Header",
    "InvalidPath",
    "Message",
    "Path",
    "Segment",
    "ack_mode",
    "acknowledge",
    "build_ack",
    "codec_for",
    "decide_ack",
    "decode_error",
    "escape",
    "outcome_for_code",
    "parse",
    "parse_path",
    "parse_stored",
    "read_header",
    "split_batch",
    "unescape",
]
