"""HL7 table 0211 character sets (MSH-18) mapped to Python codecs.

The ASCII-compatible 8-bit sets are supported; UTF-16/UCS-2 sets break both the MSH peek
and MLLP framing and are refused.
"""

from __future__ import annotations

from engine.errors import ParseError

_CODECS = {
    "": None,
    "ASCII": "ascii",
    "8859/1": "iso8859-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",  # common non-standard spelling seen in real feeds
}


def codec_for(msh18: str, default: str = "utf-8") -> str:
    """Return the Python codec for an MSH-18 value (first repetition), or ``default`` if empty.

    Raises:
        ParseError: the character set is unknown or not ASCII-compatible (HL7 table 0357
            has no dedicated code; 207 "application internal error" is used).
    """
    name = msh18.strip().upper()
    if name.startswith("UNICODE UTF-8"):
        name = "UNICODE UTF-8"
    codec = _CODECS.get(name, _CODECS.get(msh18.strip()))
    if name == "":
        return default
    if codec is None:
        raise ParseError(
            "MSH-18 names a character set that is not supported (HL7 table 0211: ASCII, "
            "8859/1 to 8859/9, 8859/15, UNICODE UTF-8)",
            segment="MSH",
            field=18,
            code=207,
        )
    return codec


__all__ = ["codec_for"]
