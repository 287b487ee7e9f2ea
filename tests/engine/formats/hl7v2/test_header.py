"""read_header: the MSH peek the MLLP listener uses (public API kept stable)."""

from __future__ import annotations

import pytest

from engine.errors import ParseError
from engine.formats.hl7v2 import Header, read_header
from tests.engine.formats.hl7v2.samples import ADT_A01


def test_header_properties() -> None:
    h = read_header(ADT_A01)
    assert isinstance(h, Header)
    assert (h.sending_application, h.sending_facility) == ("GAM", "CHU-X")
    assert (h.receiving_application, h.receiving_facility) == ("DPI", "CHU-X")
    assert (h.message_type, h.trigger_event, h.message_structure) == ("ADT", "A01", "ADT_A01")
    assert (h.control_id, h.processing_id, h.version) == ("3975", "P", "2.5")
    assert (h.accept_ack_type, h.application_ack_type) == ("", "")
    assert h.charset == "UNICODE UTF-8"
    assert h.codec == "utf-8"
    assert h.field(1) == "|" and h.field(2) == "^~\\&"
    assert h.metadata()["hl7.trigger_event"] == "A01"
    assert h.metadata()["hl7.codec"] == "utf-8"


def test_bom_and_lf() -> None:
    h = read_header(b"\xef\xbb\xbf" + ADT_A01.replace(b"\r", b"\n"))
    assert h.control_id == "3975"


def test_default_codec_and_charset() -> None:
    raw = b"MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\r"
    assert read_header(raw, default_codec="iso8859-15").codec == "iso8859-15"
    raw15 = b"MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||8859/15\r"
    assert read_header(raw15).codec == "iso8859-15"


def test_non_ascii_repetition_separator_is_read_after_decoding() -> None:
    h = read_header("MSH|^˜\\&|A|B|C|D|1||ADT^A04|1|P|2.3\r".encode())
    assert h.delimiters.repetition == "˜"
    assert h.delimiters.escape == "\\"
    assert h.delimiters.encoding_characters == "^˜\\&"


@pytest.mark.parametrize(
    ("raw", "field", "code"),
    [
        (b"MSH|^~\\&|A|B|C|D|1||ADT|1|P|2.5\r", 9, 101),
        (b"MSH|^~\\&|A|B|C|D|1||ADT^A01||P|2.5\r", 10, 101),
        (b"MSH|^~\\&|A|B|C|D|1||ADT^A01|1||2.5\r", 11, 101),
        (b"MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P\r", 12, 101),
        (b"MSH|^~\\&\r", 9, 101),
        (b"EVN|A01\r", None, 100),
        (b"MSH1^~\\&|A|B|C\r", 1, 102),
    ],
)
def test_required_fields(raw: bytes, field: int | None, code: int) -> None:
    with pytest.raises(ParseError) as info:
        read_header(raw)
    assert (info.value.field, info.value.code) == (field, code)


def test_require_false_is_lenient() -> None:
    h = read_header(b"MSH|^~\\&|A|B\r", require=False)
    assert h.sending_application == "A"
    assert h.control_id == ""


def test_metadata_never_carries_a_malformed_code_or_control_id() -> None:
    from engine.formats.hl7v2.header import code_fact

    assert [code_fact(c) for c in ("ADT", "A01", "ADT_A01", "", "Z99")] == [
        "ADT",
        "A01",
        "ADT_A01",
        "",
        "Z99",
    ]
    assert code_fact("DUPONT") == code_fact("A 01") == code_fact("a01") == "invalid"
    raw = (
        b"MSH|^~\\&|GAM|CHU|PASSERELLE|GRADES|20261120093012||ADT^DUPONT JEAN^ADT_A01|"
        b"\x1b[31mC1\x1b[0m|P|2.5\r"
    )
    metadata = read_header(raw, require=False).metadata()
    assert metadata["hl7.trigger_event"] == "invalid"
    assert metadata["hl7.control_id"].startswith("invalid-id:")
    with pytest.raises(ParseError, match="control characters") as refused:
        read_header(raw)
    assert (refused.value.code, refused.value.field) == (102, 10)
