"""HL7v2 escape sequences: ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\`` and ``\\Xhh..\\``.

Other sequences (``\\H\\``, ``\\N\\``, ``\\.br\\``, ``\\Cxxyy\\``...) are formatting or
charset switches; :func:`unescape` keeps them verbatim so no information is lost.

Contract: ``unescape(escape(text, d), d) == text`` for any text and any valid delimiters.
"""

from __future__ import annotations

from engine.formats.hl7v2.header import Delimiters

_HEX = frozenset("0123456789abcdefABCDEF")


def escape(text: str, d: Delimiters) -> str:
    """Escape delimiter characters in ``text`` so it can be placed in one component.

    The five delimiters become ``\\F\\ \\S\\ \\R\\ \\T\\ \\E\\``; CR and LF (segment
    terminators) become ``\\X0D\\`` and ``\\X0A\\`` so a value can never split a segment.
    """
    e = d.escape
    if not e:
        return text
    out = text.replace(e, f"{e}E{e}")
    for char, code in ((d.field, "F"), (d.component, "S"), (d.repetition, "R")):
        out = out.replace(char, f"{e}{code}{e}")
    if d.subcomponent:
        out = out.replace(d.subcomponent, f"{e}T{e}")
    if "\r" in out or "\n" in out:
        out = out.replace("\r", f"{e}X0D{e}").replace("\n", f"{e}X0A{e}")
    return out


def unescape(text: str, d: Delimiters, *, codec: str = "latin-1") -> str:
    """Decode escape sequences in one primitive value.

    ``\\Xhh..\\`` is decoded as bytes in ``codec`` (the message's charset; falls back to
    ISO 8859-1 when the bytes are not valid in it). Unknown sequences are kept verbatim; an
    escape character with no closing partner is kept as is.
    """
    e = d.escape
    if not e or e not in text:
        return text
    simple = {"F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition, "E": e}
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        start = text.find(e, i)
        if start < 0:
            out.append(text[i:])
            break
        out.append(text[i:start])
        end = text.find(e, start + 1)
        if end < 0:
            out.append(text[start:])
            break
        seq = text[start + 1 : end]
        if seq in simple:
            out.append(simple[seq])
        elif len(seq) > 1 and seq[0] == "X" and len(seq) % 2 == 1 and _is_hex(seq[1:]):
            out.append(_decode_hex(seq[1:], codec))
        else:
            out.append(text[start : end + 1])
        i = end + 1
    return "".join(out)


def _decode_hex(digits: str, codec: str) -> str:
    data = bytes.fromhex(digits)
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return data.decode("latin-1")


def _is_hex(s: str) -> bool:
    return all(c in _HEX for c in s)


__all__ = ["escape", "unescape"]
