"""split_batch: multi-message files and FHS/BHS/BTS/FTS envelopes."""

from __future__ import annotations

import pytest

from engine.errors import ParseError
from engine.formats.hl7v2 import parse, split_batch
from tests.engine.formats.hl7v2.samples import ADT_A01

MSG1 = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||111\r"
MSG2 = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A02|2|P|2.5\rPID|1||222\rPV1|1|I\r"


def test_single_message() -> None:
    assert split_batch(ADT_A01) == [ADT_A01]


def test_concatenated_messages_join_back() -> None:
    for term in (b"\r", b"\n", b"\r\n"):
        raw = (MSG1 + MSG2).replace(b"\r", term)
        parts = split_batch(raw)
        assert len(parts) == 2
        assert b"".join(parts) == raw
        assert [parse(p).get("PID-3") for p in parts] == ["111", "222"]


def test_full_batch_envelope_is_left_out() -> None:
    raw = b"FHS|^~\\&|F\rBHS|^~\\&|B\r" + MSG1 + MSG2 + b"BTS|2\rFTS|1\r"
    assert split_batch(raw) == [MSG1, MSG2]


def test_bom_and_leading_blank_lines() -> None:
    assert split_batch(b"\xef\xbb\xbf" + MSG1) == [MSG1]
    assert split_batch(b"\n\r\n" + MSG1) == [MSG1]


def test_msh_inside_a_field_does_not_split() -> None:
    # ADT04-23.hl7 in the FHIR-Converter corpus has "|MSH|" as a PID value
    raw = b"MSH|^~\\&|A\rPID|1||x|||||||||||||MSH|123\rNK1|1|MSH\r"
    assert split_batch(raw) == [raw]
    b64 = b"MSH|^~\\&|A\rOBX|1|ED|||^TEXT^XML^Base64^TVNIfE1TSA==\r"
    assert split_batch(b64) == [b64]


def test_segment_id_must_be_followed_by_a_separator() -> None:
    raw = MSG1 + b"MSHX|1\r"
    assert split_batch(raw) == [raw]


def test_empty_input() -> None:
    assert split_batch(b"") == []
    assert split_batch(b" \r\n") == []


@pytest.mark.parametrize(
    "raw",
    [
        b"PID|1\r" + MSG1,
        b"garbage" + MSG1,
        b"BHS|^~\\&|B\rPID|1\r" + MSG1,
    ],
)
def test_segments_outside_messages_are_errors(raw: bytes) -> None:
    with pytest.raises(ParseError) as info:
        split_batch(raw)
    assert info.value.code == 100
