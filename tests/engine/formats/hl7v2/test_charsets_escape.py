"""MSH-18 charsets (8859/1, 8859/15, UTF-8, default) and escape sequences."""

from __future__ import annotations

import pytest

from engine.errors import ParseError
from engine.formats.hl7v2 import DEFAULT_DELIMITERS, Delimiters, codec_for, escape, parse, unescape


def _msg(charset: str, pid5: bytes) -> bytes:
    msh = b"MSH|^~\\&|GAM|CHU|DPI|CHU|20240101||ADT^A01^ADT_A01|1|P|2.5^FRA^2.11|||||FRA|"
    return msh + charset.encode() + b"\rPID|1||42^^^CHU^PI||" + pid5 + b"\r"


def test_iso_8859_1_accented_names() -> None:
    raw = _msg("8859/1", "LEFÈVRE^Hélène^Françoise".encode("latin-1"))
    m = parse(raw)
    assert m.codec == "iso8859-1"
    assert m.get("PID-5.1") == "LEFÈVRE"
    assert m.get("PID-5.2") == "Hélène"
    assert m.get("PID-5.3") == "Françoise"
    assert m.to_bytes() == raw


def test_iso_8859_15_euro_sign() -> None:
    raw = _msg("8859/15", b"DUPONT^Jean^^^^^^\xa4")
    assert parse(raw).get("PID-5.8") == "€"
    # same byte in 8859/1 is the currency sign
    assert parse(_msg("8859/1", b"DUPONT^Jean^^^^^^\xa4")).get("PID-5.8") == "¤"


def test_utf8_declared_and_default() -> None:
    assert parse(_msg("UNICODE UTF-8", "Chloé".encode())).get("PID-5") == "Chloé"
    assert parse(_msg("", "Chloé".encode())).codec == "utf-8"
    latin = _msg("", "Chloé".encode("latin-1"))
    assert parse(latin, default_codec="iso8859-1").get("PID-5") == "Chloé"
    with pytest.raises(ParseError) as info:
        parse(latin)  # the channel default (UTF-8) does not fit
    assert info.value.code == 207


def test_utf8_with_latin1_bytes_is_refused() -> None:
    with pytest.raises(ParseError) as info:
        parse(_msg("UNICODE UTF-8", "Chloé".encode("latin-1")))
    assert (info.value.segment, info.value.field, info.value.code) == ("PID", 5, 207)


@pytest.mark.parametrize(
    ("msh18", "codec"),
    [
        ("8859/1", "iso8859-1"),
        ("8859/15", "iso8859-15"),
        ("UNICODE UTF-8", "utf-8"),
        ("unicode utf-8", "utf-8"),
        ("UTF-8", "utf-8"),
        ("ASCII", "ascii"),
        ("", "latin-1"),
    ],
)
def test_codec_for(msh18: str, codec: str) -> None:
    assert codec_for(msh18, "latin-1") == codec


def test_codec_for_refuses_utf16() -> None:
    with pytest.raises(ParseError) as info:
        codec_for("UNICODE UTF-16")
    assert (info.value.field, info.value.code) == (18, 207)


def test_escape_all_delimiters_and_line_breaks() -> None:
    d = DEFAULT_DELIMITERS
    assert escape("a|b^c~d\\e&f", d) == "a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f"
    assert escape("l1\rl2\n", d) == "l1\\X0D\\l2\\X0A\\"
    assert unescape("a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f", d) == "a|b^c~d\\e&f"


def test_unescape_hex_uses_the_message_codec() -> None:
    d = DEFAULT_DELIMITERS
    assert unescape("\\X41\\", d) == "A"
    assert unescape("\\XC3A9\\", d, codec="utf-8") == "é"
    assert unescape("\\XE9\\", d, codec="utf-8") == "é"  # invalid UTF-8: read as 8859-1
    assert unescape("\\XC3A9\\", d) == "Ã©"  # default stays ISO 8859-1 (existing API)


def test_unescape_keeps_unknown_and_unterminated_sequences() -> None:
    d = DEFAULT_DELIMITERS
    assert unescape("a\\H\\b\\N\\c", d) == "a\\H\\b\\N\\c"
    assert unescape("x\\.br\\y", d) == "x\\.br\\y"
    assert unescape("tail\\", d) == "tail\\"
    assert unescape("\\X4\\", d) == "\\X4\\"  # odd number of hex digits: not a hex escape
    # python-hl7 bug #84 gives "\\R" here; the trailing escape has no partner and is kept.
    assert unescape("\\E\\R\\", d) == "\\R\\"


def test_escape_with_custom_delimiters() -> None:
    d = Delimiters(field="#", component="*", repetition="@", escape="$", subcomponent="%")
    text = "a#b*c@d$e%f|^~\\&"
    assert escape(text, d) == "a$F$b$S$c$R$d$E$e$T$f|^~\\&"
    assert unescape(escape(text, d), d) == text


def test_parsed_values_decode_hex_in_message_charset() -> None:
    m = parse(_msg("UNICODE UTF-8", b"\\X4C\\ECLERC^Z\\XC3A9\\LIE"))
    assert m.get("PID-5.1") == "LECLERC"
    assert m.get("PID-5.2") == "ZéLIE"
