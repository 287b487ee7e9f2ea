"""Unit tests of the lazy ER7 parser: paths, repetitions, sub-components, MSH, set, errors."""

from __future__ import annotations

import pytest

from engine.errors import ParseError
from engine.formats.hl7v2 import InvalidPath, Message, parse, parse_path
from tests.engine.formats.hl7v2.samples import ADT_A01, ADT_A01_SEGMENTS


@pytest.fixture
def msg() -> Message:
    return parse(ADT_A01)


def test_segments_and_ids(msg: Message) -> None:
    assert msg.segment_ids == ["MSH", "EVN", "PID", "PV1", "NTE", "ZBE", "ZFA"]
    assert len(msg) == 7
    assert [s.name for s in msg.segments("PID")] == ["PID"]
    assert msg.segment("OBX") is None
    assert msg.terminator == "\r"
    assert msg.codec == "utf-8"


def test_msh_numbering_follows_hl7(msg: Message) -> None:
    assert msg.get("MSH-1") == "|"
    assert msg.get("MSH-2") == "^~\\&"
    assert msg.raw("MSH-2") == "^~\\&"
    assert msg.get("MSH-3") == "GAM"
    assert msg.get("MSH-9") == "ADT"
    assert msg.raw("MSH-9") == "ADT^A01^ADT_A01"
    assert msg.get("MSH-9.2") == "A01"
    assert msg.get("MSH-10") == "3975"
    assert msg.get("MSH-12.3") == "2.11"
    assert msg.get("MSH-18") == "UNICODE UTF-8"
    assert msg.get("MSH-21.2") == "IHE_FRANCE-2.11-PAM"
    msh = msg.segment("MSH")
    assert msh is not None
    assert msh.field(1) == "|" and msh.field(2) == "^~\\&" and msh.field(3) == "GAM"
    assert len(msh) == 21
    # MSH-1/2 are atomic: never split into components
    assert msh.components(2) == ["^~\\&"]
    assert msg.get("MSH-2.2", None) is None
    assert msg.get_all("MSH-2") == ["^~\\&"]
    assert msg.get_all("MSH-1") == ["|"]


def test_header_matches_read_header(msg: Message) -> None:
    from engine.formats.hl7v2 import read_header

    assert msg.header == read_header(ADT_A01)
    assert msg.header.control_id == "3975"
    assert msg.header.trigger_event == "A01"


def test_repetitions_components_subcomponents(msg: Message) -> None:
    assert msg.get("PID-3") == "000003"
    assert msg.get("PID-3[1].1") == "000003"
    assert msg.get("PID-3[2].1") == "279035121518989"
    assert msg.get("PID-3[2].4") == "ASIP-SANTE-INS-NIR"
    assert msg.get("PID-3[2].4.2") == "1.2.250.1.213.1.4.10"
    assert msg.get("PID-3[2].4.3") == "ISO"
    assert msg.get("PID-3[2].5") == "INS"
    assert msg.raw("PID-3[2].4") == "ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO"
    assert msg.get_all("PID-3.1") == ["000003", "279035121518989"]
    assert msg.get_all("PID-3[*].5") == ["PI", "INS"]
    assert msg.get_all("PID-3[2].5") == ["INS"]
    assert msg.get("PID-5.1") == "DUPONT"
    assert msg.get("PID-5[2].1") == "MARTIN"
    assert msg.get("PID-5.3") == "JEANNE MARIE"
    assert msg.get("PV1-7.2") == "Réault"
    pid = msg.segment("PID")
    assert pid is not None
    assert len(pid.repetitions(3)) == 2
    assert pid.components(3, 2)[4] == "INS"
    assert pid.subcomponents(3, 2, 4) == ["ASIP-SANTE-INS-NIR", "1.2.250.1.213.1.4.10", "ISO"]
    assert pid.get(11, 2, 9) == "63220"
    assert pid.raw(3) == msg.raw("PID-3")


def test_absent_versus_empty(msg: Message) -> None:
    assert msg.get("PID-2") == ""  # present, empty
    assert msg.get("PID-2", None) == ""
    assert msg.get("PID-99", None) is None  # beyond the last field
    assert msg.get("PID-3[3]", None) is None  # no third repetition
    assert msg.get("PID-3.12", None) is None
    assert msg.get("OBX-5", None) is None  # no such segment
    assert msg.get("PID-99") == ""  # default default
    assert msg.get_all("OBX-5") == []
    assert msg.raw("PID-99", "absent") == "absent"


def test_values_are_unescaped_and_raw_is_not(msg: Message) -> None:
    assert msg.get("NTE-3") == "Tél. 01 23 45 67 89 & fax|domicile^bureau~autre\\fin"
    expected = "Tél. 01 23 45 67 89 \\T\\ fax\\F\\domicile\\S\\bureau\\R\\autre\\E\\fin"
    assert msg.raw("NTE-3") == expected


def test_segment_occurrence_paths() -> None:
    raw = b"MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\rOBX|1|ST|X||one\rOBX|2|ST|Y||two~deux\r"
    m = parse(raw)
    assert m.get("OBX-5") == "one"
    assert m.get("OBX[2]-5") == "two"
    assert m.get("OBX[2]-5[2]") == "deux"
    assert m.get_all("OBX[*]-5") == ["one", "two", "deux"]
    assert m.get_all("OBX-5") == ["one", "two", "deux"]
    assert m.get_all("OBX[2]-5") == ["two", "deux"]
    assert m.get_all("OBX[*]-1") == ["1", "2"]
    assert m.get("OBX[3]-5", None) is None
    assert [s.get(5) for s in m.segments("OBX")] == ["one", "two"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("PID-3", ("PID", None, 3, None, None, None)),
        ("PID-3[2].4.2", ("PID", None, 3, 2, 4, 2)),
        ("OBX[2]-5", ("OBX", 2, 5, None, None, None)),
        ("OBX[*]-5[*].1", ("OBX", -1, 5, -1, 1, None)),
        ("ZBE-1", ("ZBE", None, 1, None, None, None)),
    ],
)
def test_parse_path(path: str, expected: tuple[object, ...]) -> None:
    p = parse_path(path)
    assert (p.segment, p.occurrence, p.field, p.repetition, p.component, p.subcomponent) == expected
    assert str(p) == path


@pytest.mark.parametrize(
    "path", ["PID", "PID-0", "pid-3", "PID-3.0", "PID-3..1", "PID.3", "PID-3[0]", "PID-3.1.2.3", ""]
)
def test_invalid_paths(path: str, msg: Message) -> None:
    with pytest.raises(InvalidPath):
        msg.get(path)


def test_wildcards_only_in_get_all(msg: Message) -> None:
    with pytest.raises(InvalidPath):
        msg.get("PID-3[*]")
    with pytest.raises(InvalidPath):
        msg.raw("OBX[*]-5")


def test_round_trip_and_terminators() -> None:
    assert parse(ADT_A01).to_bytes() == ADT_A01
    lf = ADT_A01.replace(b"\r", b"\n")
    crlf = ADT_A01.replace(b"\r", b"\r\n")
    no_trailing = ADT_A01.rstrip(b"\r")
    mixed = ADT_A01.replace(b"\r", b"\n", 2).replace(b"\r", b"\r\n", 1)
    bom = b"\xef\xbb\xbf" + lf
    for raw in (lf, crlf, no_trailing, mixed, bom):
        m = parse(raw)
        assert m.to_bytes() == raw
        assert m.segment_ids == ["MSH", "EVN", "PID", "PV1", "NTE", "ZBE", "ZFA"]
        assert m.get("PID-3[2].1") == "279035121518989"
    assert parse(crlf).terminator == "\r\n"
    assert parse(lf).terminator == "\n"


def test_blank_lines_kept_for_bytes_but_not_segments() -> None:
    raw = b"MSH|^~\\&|A\n\nPID|1\n  \n"
    m = parse(raw)
    assert m.segment_ids == ["MSH", "PID"]
    assert m.to_bytes() == raw


def test_set_changes_only_that_element() -> None:
    m = parse(ADT_A01.replace(b"\r", b"\n"))
    m.set("PID-5[2].1", "DURAND|X")
    out = m.to_bytes()
    lines = out.decode().split("\n")
    orig = ADT_A01.decode().split("\r")
    assert [i for i, (a, b) in enumerate(zip(lines, orig, strict=True)) if a != b] == [2]
    pid_new, pid_old = lines[2].split("|"), orig[2].split("|")
    assert [i for i, (a, b) in enumerate(zip(pid_new, pid_old, strict=True)) if a != b] == [5]
    assert pid_new[5] == "DUPONT^JEANNE^JEANNE MARIE^^Mme^^L~DURAND\\F\\X^JEANNE^^^Mme^^D"
    assert parse(out).get("PID-5[2].1") == "DURAND|X"
    assert out.endswith(b"\n") and b"\r" not in out


def test_set_pads_and_raw_values() -> None:
    m = parse(b"MSH|^~\\&|A|B\rZZZ|1\r")
    m.set("ZZZ-4[2].3.2", "v")
    assert m.raw("ZZZ-4") == "~^^&v"
    m.set("ZZZ-2", "a^b~c", escape_value=False)
    assert m.get("ZZZ-2[2]") == "c"
    m.set("MSH-3", "NEWAPP")
    assert m.to_bytes() == b"MSH|^~\\&|NEWAPP|B\rZZZ|1|a^b~c||~^^&v\r"
    with pytest.raises(ValueError):
        m.set("MSH-2", "x")
    with pytest.raises(ValueError):
        m.set("ZZZ-2.1", "a^b", escape_value=False)
    with pytest.raises(KeyError):
        m.set("PID-3", "x")


def test_set_rejects_characters_outside_charset() -> None:
    msh = b"MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||8859/1\r"
    m = parse(msh + b"PID|1\r")
    m.set("PID-5.1", "Hélène")
    assert m.to_bytes() == msh + b"PID|1||||H\xe9l\xe8ne\r"
    with pytest.raises(ValueError):
        m.set("PID-5.1", "€")


def test_set_msh18_transcodes() -> None:
    msh = b"MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||8859/1\r"
    m = parse(msh + b"PID|1||||L\xc9VY^Zo\xe9\r")
    m.set("MSH-18", "UNICODE UTF-8")
    assert m.codec == "utf-8"
    again = parse(m.to_bytes())
    assert again.get("MSH-18") == "UNICODE UTF-8"
    assert (again.get("PID-5.1"), again.get("PID-5.2")) == ("LÉVY", "Zoé")
    utf8 = parse(b"MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||||\xe2\x82\xac\r")
    with pytest.raises(ValueError):
        utf8.set("MSH-18", "8859/1")  # the euro sign does not exist in ISO 8859-1
    with pytest.raises(ValueError):
        utf8.set("MSH-18", "KLINGON")
    assert utf8.codec == "utf-8" and utf8.get("MSH-18", None) is None
    assert utf8.to_bytes() == b"MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||||\xe2\x82\xac\r"


def test_set_escapes_line_breaks() -> None:
    m = parse(b"MSH|^~\\&|A\rNTE|1\r")
    m.set("NTE-3", "line 1\r\nline 2")
    assert m.raw("NTE-3") == "line 1\\X0D\\\\X0A\\line 2"
    assert m.get("NTE-3") == "line 1\r\nline 2"
    assert len(parse(m.to_bytes())) == 2


def test_three_character_encoding_field() -> None:
    m = parse(b"MSH|^~\\|A\rPID|1||a&b^c\r")
    assert m.delimiters.subcomponent == ""
    assert m.get("PID-3.1") == "a&b"
    assert m.get("PID-3.1.1") == "a&b"
    assert m.get("PID-3.1.2", None) is None


def test_custom_delimiters() -> None:
    m = parse(b"MSH#*@$%#A#B\rPID#1##x*y@z%w$S$q\r")
    assert m.get("MSH-1") == "#" and m.get("MSH-2") == "*@$%"
    assert m.get("PID-3.2") == "y"
    assert m.get("PID-3[2].1.2") == "w*q"  # $S$ stands for this message's component separator
    assert m.delimiters.component == "*"


def test_non_ascii_encoding_characters() -> None:
    # seen in the FHIR-Converter corpus: MSH-2 "^˜\&" with U+02DC as repetition separator
    raw = "MSH|^˜\\&|A\rPID|1||a˜b\r".encode()
    m = parse(raw)
    assert m.delimiters.repetition == "˜"
    assert m.get_all("PID-3") == ["a", "b"]


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        (b"", 100, None),
        (b"PID|1\r", 100, None),
        (b"MSH", 102, 1),
        (b"MSHA^~\\&\r", 102, 1),
        (b"MSH|^\r", 102, 2),
        (b"MSH|^^\\&\r", 102, 2),
        (b"MSH|ab\\&|\r", 102, 2),
        (b"MSH|^~\\&|A" + b"|" * 15 + b"KLINGON\r", 207, 18),
        (b"MSH|^~\\&|A\rPID|1|\xff\r", 207, 2),
        (b"MSH|^~\\&|A" + b"|" * 15 + b"ASCII\rPID|1||x|\xe9\r", 207, 4),
    ],
)
def test_parse_errors(raw: bytes, code: int, field: int | None) -> None:
    with pytest.raises(ParseError) as info:
        parse(raw)
    assert info.value.code == code
    assert info.value.field == field


def test_undecodable_byte_is_located() -> None:
    with pytest.raises(ParseError) as info:
        parse(b"MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||1^^^X||DUPONT\xe9^J\r")
    assert (info.value.segment, info.value.field, info.value.code) == ("PID", 5, 207)
    assert "DUPONT" not in str(info.value)  # no patient data in the error


def test_batch_headed_text_parses_as_one_message() -> None:
    raw = b"BHS|^~\\&|A\rMSH|^~\\&|A" + b"|" * 15 + b"8859/1\rPID|1||\xe9\rBTS|1\r"
    m = parse(raw)
    assert m.codec == "iso8859-1"  # MSH-18 of the first MSH
    assert m.segment_ids == ["BHS", "MSH", "PID", "BTS"]
    assert m.get("PID-3") == "é"
    assert m.to_bytes() == raw


def test_repr_has_no_patient_data(msg: Message) -> None:
    text = repr(msg)
    assert "DUPONT" not in text and "3975" in text
    assert repr(msg.segments()[2]) == "<Segment PID #2>"


def test_first_segment_text(msg: Message) -> None:
    assert [s.to_text() for s in msg] == ADT_A01_SEGMENTS
