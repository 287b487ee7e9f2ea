"""Splitting files that hold several ER7 messages (HL7 batch protocol or plain concatenation).

A message starts at a segment whose id is MSH. FHS/BHS/BTS/FTS envelope segments are
recognised and left out of the result. Segments are recognised only at the start of a line
(after CR or LF), so "MSH" inside a field or inside Base64 never splits a message.

Contract: each returned item is the exact byte slice of one message, from ``MSH`` up to the
next message or envelope segment, its trailing terminator(s) included. For a file without
BOM or envelope segments, ``b"".join(split_batch(raw)) == raw`` (leading blank lines aside).
"""

from __future__ import annotations

import re

from engine.errors import ParseError
from engine.formats.hl7v2.header import BOM

ENVELOPE_SEGMENTS = frozenset({"FHS", "BHS", "BTS", "FTS"})
_BOUNDARY = re.compile(rb"(?:\A|(?<=[\r\n]))(MSH|FHS|BHS|BTS|FTS)(?![A-Za-z0-9])")
_LINE_END = re.compile(rb"[\r\n]")


def split_batch(raw: bytes) -> list[bytes]:
    """Return the bytes of each message in ``raw``, in order.

    A single message gives a one-item list; empty or blank input gives ``[]``.

    Raises:
        ParseError: code 100 when a non-blank line is found outside any message (before the
            first MSH, or after an envelope segment and before the next MSH).
    """
    body = raw[3:] if raw.startswith(BOM) else raw
    bounds = [(m.start(), m.group(1)) for m in _BOUNDARY.finditer(body)]
    head = body[: bounds[0][0]] if bounds else body
    if head.strip():
        raise ParseError("data before the first MSH/BHS/FHS segment", code=100)
    messages: list[bytes] = []
    for k, (start, kind) in enumerate(bounds):
        end = bounds[k + 1][0] if k + 1 < len(bounds) else len(body)
        chunk = body[start:end]
        if kind == b"MSH":
            messages.append(chunk)
            continue
        line_end = _LINE_END.search(chunk)
        if line_end is not None and chunk[line_end.end() :].strip():
            raise ParseError(
                f"segment outside a message after {kind.decode()}", segment=kind.decode(), code=100
            )
    return messages


__all__ = ["ENVELOPE_SEGMENTS", "split_batch"]
