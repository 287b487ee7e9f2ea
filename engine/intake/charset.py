"""Charset damage at HL7v2 intake: bytes that are not valid in the declared charset.

A channel chooses (``hl7.on_decode_error``) between refusing such a message and reading it
anyway, with U+FFFD for the bad bytes (``replace``) or wholly in a fallback charset
(``fallback``). :func:`read_damaged` applies the choice to the header, whose ``decoding``
then travels with the message (metadata ``hl7.decode`` and ``hl7.codec``), so the ACK
decision and every reader downstream (:func:`~engine.formats.hl7v2.parse_stored`) see the
same text. Texts locate the first bad byte (segment, field) and never quote it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from engine.errors import ParseError
from engine.formats.hl7v2.ack import AckError
from engine.formats.hl7v2.header import Header
from engine.formats.hl7v2.parser import decode_error

OnDecodeError = Literal["reject", "replace", "fallback"]
DATA_TYPE = 102
"""HL7 table 0357 "Data type error": bytes that are not characters of the declared charset."""


def read_damaged(
    frame: bytes, header: Header, exc: ParseError, mode: OnDecodeError, fallback_codec: str
) -> tuple[Header, AckError] | None:
    """The header to read ``frame`` with and the ERR warning for the ACK, or None when the
    message is to be refused (``reject``, or a fallback charset it is not valid in either).

    ``exc`` is :func:`~engine.formats.hl7v2.decode_error`'s location of the first bad byte.
    """
    if mode == "reject" or (mode == "fallback" and decode_error(frame, fallback_codec)):
        return None
    read = replace(header, decoding=mode, fallback_codec=fallback_codec)
    where = f" at {exc.segment}-{exc.field}" if exc.segment and exc.field else ""
    how = f"read as {fallback_codec}" if mode == "fallback" else "bad bytes replaced"
    text = f"bytes not valid in the declared charset{where}: {how}"
    return read, AckError(DATA_TYPE, text, "W", exc.segment, exc.field)


def refusal(exc: ParseError) -> AckError:
    """The ERR of a message refused for charset damage (``reject``)."""
    return AckError(DATA_TYPE, str(exc), segment=exc.segment, field=exc.field)


__all__ = ["DATA_TYPE", "OnDecodeError", "read_damaged", "refusal"]
