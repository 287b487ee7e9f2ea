"""HL7v2 escape sequences: ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\`` and ``\\Xhh..\\``.

Other sequences (``\\H\\``, ``\\N\\``, ``\\.br\\``, ``\\Cxxyy\\``...) are formatting or
charset switches; :func:`unescape` keeps them verbatim so no information is lost.
"""

from __future__ import annotations

from engine.formats.hl7v2.header import Delimiters


def escape(text: str, d: Delimiters) -> str:
    """Escape delimiter characters in ``text`` so it can be placed in one component."""
    e = d.escape
    if not e:
        return text
    out = text.replace(e, f"{e}E{e}")
    for char, code in ((d.field, "F"), (d.component, "S"), (d.repetition, "R")):
        out = out.replace(char, f"{e}{code}{e}")
    if d.subcomponent:
        out = out.replace(d.subcomponent, f"{e}T{e}")
    return out


def unescape(text: str, d: Delimiters) -> str:
    """Decode escape sequences in one primitive value.

    Unknown sequences are kept verbatim; an escape character with no closing partner
    is kept as is.
    """
    e = d.escape
    if not e or e not in text:
        return text
    simple = {"F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition, "E": e}
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != e:
            out.append(ch)
            i += 1
            continue
        end = text.find(e, i + 1)
        if end < 0:
            out.append(text[i:])
            break
        seq = text[i + 1 : end]
        if seq in simple:
            out.append(simple[seq])
        elif len(seq) > 1 and seq[0] == "X" and len(seq) % 2 == 1 and _is_hex(seq[1:]):
            out.append(bytes.fromhex(seq[1:]).decode("latin-1"))
        else:
            out.append(text[i : end + 1])
        i = end + 1
    return "".join(out)


def _is_hex(s: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in s)


__all__ = ["escape", "unescape"]
