"""ER7 tokenizer: bytes in, a lazy :class:`~engine.formats.hl7v2.message.Message` out.

:func:`parse` does the minimum work up front: strip a UTF-8 BOM, read MSH-18 from the raw
first segment, decode the whole message once, read the delimiters, split the segments.
Everything below the segment level is split when first read.

Contract: on any input bytes, :func:`parse` returns a Message or raises
:class:`~engine.errors.ParseError` (never another exception). ParseError codes (HL7 table
0357, for ERR-3):

* 100 -- the data does not start with MSH (or BHS/FHS).
* 102 -- MSH-1/MSH-2 delimiters invalid (``field`` 1 or 2).
* 207 -- charset problem: MSH-18 unknown/unsupported (``field`` 18), or bytes that are not
  valid in the declared charset (``segment``/``field`` locate the first bad byte). Table
  0357 has no charset code; 207 is what ANS volets use for receiver-side failures.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Literal

from engine.errors import ParseError
from engine.formats.hl7v2.charsets import codec_for
from engine.formats.hl7v2.header import (
    BOM,
    HEADER_SEGMENTS,
    Delimiters,
    Header,
    delimiters_from,
    first_segment,
    peek_charset,
    read_header,
)
from engine.formats.hl7v2.message import Message

_HEADER_BYTES = tuple(s.encode() for s in sorted(HEADER_SEGMENTS))
_TERMINATOR = re.compile(r"(\r\n|\r|\n)")
_NEXT_MSH = re.compile(rb"[\r\n]MSH")


def parse(
    raw: bytes,
    *,
    default_codec: str = "utf-8",
    codec: str | None = None,
    errors: Literal["strict", "replace"] = "strict",
) -> Message:
    """Parse one ER7 message (segments ended by CR, LF or CRLF, optional UTF-8 BOM).

    Args:
        raw: the message bytes, without MLLP framing. For files holding several messages
            or FHS/BHS batches, call :func:`~engine.formats.hl7v2.batch.split_batch` first
            (``parse`` would keep them as one message with several MSH).
        default_codec: the channel's codec, used when MSH-18 is empty.
        codec: decode with this codec whatever MSH-18 says (the decision intake recorded
            for a message whose bytes are not valid in its declared charset; see
            :func:`parse_stored`).
        errors: ``replace`` decodes undecodable bytes as U+FFFD instead of raising.

    Raises:
        ParseError: see the module docstring for codes.
    """
    if type(raw) is not bytes:
        raw = bytes(raw)
    bom = BOM if raw.startswith(BOM) else b""
    body = raw[len(bom) :]
    if not body.startswith(_HEADER_BYTES):
        raise ParseError("not an HL7v2 message: it does not start with an MSH segment", code=100)
    msh18 = _charset_field(body) if codec is None else ""
    codec = codec or codec_for(msh18, default_codec)
    try:
        text = body.decode(codec, errors)
    except UnicodeDecodeError as exc:
        raise _decode_error(body, exc.start, codec, msh18) from exc
    except LookupError as exc:
        raise ParseError(
            f"codec {codec} is not available", segment="MSH", field=18, code=207
        ) from exc
    segments, terminators = _split_segments(text)
    delimiters = _delimiters(segments[0])
    return Message(raw, bom, segments, terminators, delimiters, codec)


DECODE = "hl7.decode"
"""Envelope metadata set by intake when the bytes were not valid in the declared charset:
``replace`` (read with U+FFFD) or ``fallback`` (read with the codec in ``hl7.codec``)."""
CODEC = "hl7.codec"
"""Envelope metadata: the codec the message is read with."""


def parse_stored(raw: bytes, metadata: Mapping[str, str], default_codec: str = "utf-8") -> Message:
    """Parse a stored message the way intake read it (every reader downstream uses this).

    ``hl7.codec`` is the codec intake used; with ``hl7.decode`` = ``fallback`` it is forced
    over MSH-18, with ``replace`` undecodable bytes read as U+FFFD. A message intake did not
    flag is parsed as :func:`parse` would (MSH-18, else ``hl7.codec``, else
    ``default_codec``).

    Raises:
        ParseError: as :func:`parse`.
    """
    codec = metadata.get(CODEC) or default_codec
    mode = metadata.get(DECODE, "")
    if mode == "fallback":
        return parse(raw, codec=codec)
    if mode == "replace":
        return parse(raw, codec=codec, errors="replace")
    return parse(raw, default_codec=codec)


def read_stored_header(raw: bytes, metadata: Mapping[str, str]) -> Header:
    """The MSH of a stored message with intake's decoding decision (``hl7.decode``,
    ``hl7.codec``) applied, for code that reviews a stored message after the ACK with the
    intake functions (they read the body with ``header.read_codec``/``decode_errors``).

    Raises:
        ParseError: as :func:`~engine.formats.hl7v2.read_header`.
    """
    mode = metadata.get(DECODE, "")
    codec = metadata.get(CODEC) or "utf-8"
    header = read_header(raw, default_codec=codec)
    if mode in ("replace", "fallback"):
        return replace(header, decoding=mode, fallback_codec=codec)
    return header


def decode_error(raw: bytes, codec: str) -> ParseError | None:
    """The ParseError locating the first byte of ``raw`` not valid in ``codec``, or None.

    Linear in the size; ``raw`` may start with a BOM.
    """
    body = raw[len(BOM) :] if raw.startswith(BOM) else raw
    try:
        body.decode(codec)
    except UnicodeDecodeError as exc:
        return _decode_error(body, exc.start, codec, _charset_field(body))
    return None


_DELIMITER_CACHE: dict[str, Delimiters] = {}


def _delimiters(first: str) -> Delimiters:
    """Delimiters of the header segment, memoised on its MSH-1/MSH-2 characters."""
    end = first.find(first[3:4], 4) if len(first) > 4 else -1
    key = first[:end] if end > 0 else first
    found = _DELIMITER_CACHE.get(key)
    if found is None:
        found = delimiters_from(first)
        if len(key) <= 16 and len(_DELIMITER_CACHE) < 64:
            _DELIMITER_CACHE[key] = found
    return found


def _charset_field(body: bytes) -> str:
    """MSH-18 of the first MSH (for a BHS/FHS-headed text, of the first MSH inside)."""
    if not body.startswith(b"MSH"):
        m = _NEXT_MSH.search(body)
        if m is None:
            return ""
        body = body[m.start() + 1 :]
    return peek_charset(first_segment(body))


def _split_segments(text: str) -> tuple[list[str], str | list[str]]:
    """Segments and their terminators: one string when uniform, else one per boundary."""
    if "\r" not in text:
        return text.split("\n"), "\n" if "\n" in text else "\r"
    if "\n" not in text:
        return text.split("\r"), "\r"
    crlf = text.count("\r\n")
    if crlf == text.count("\r") == text.count("\n"):
        return text.split("\r\n"), "\r\n"
    parts = _TERMINATOR.split(text)
    return parts[0::2], parts[1::2]


def _decode_error(body: bytes, pos: int, codec: str, msh18: str) -> ParseError:
    """A ParseError locating the first undecodable byte (segment id and field number)."""
    start = max(body.rfind(b"\r", 0, pos), body.rfind(b"\n", 0, pos)) + 1
    seg_id = body[start : start + 3].decode("latin-1")
    if not (seg_id.isascii() and seg_id.isalnum() and len(seg_id) == 3):
        seg_id = ""
    sep = body[3:4]
    field = body.count(sep, start, pos) if sep else 0
    if seg_id.encode() in _HEADER_BYTES:
        field += 1
    declared = "declared by MSH-18" if msh18 else "the channel's default: MSH-18 is empty"
    where = f" in {seg_id}-{field}" if seg_id and field else (f" in {seg_id}" if seg_id else "")
    return ParseError(
        f"the message is not valid {codec} ({declared}): undecodable byte{where}",
        segment=seg_id or None,
        field=field or None,
        code=207,
    )


__all__ = ["CODEC", "DECODE", "decode_error", "parse", "parse_stored", "read_stored_header"]
