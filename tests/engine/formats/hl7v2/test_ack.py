"""Acknowledgements: original and enhanced modes, ERR segments, charsets."""

from __future__ import annotations

import pytest

from engine.formats.hl7v2 import (
    ANS_CODING,
    AckError,
    AckOutcome,
    AckStage,
    ack_mode,
    acknowledge,
    build_ack,
    decide_ack,
    outcome_for_code,
    parse,
    read_header,
)
from tests.engine.formats.hl7v2.samples import ack_message

OK, ERR, REJ = AckOutcome.ACCEPTED, AckOutcome.ERROR, AckOutcome.REJECTED
ACCEPT, APP = AckStage.ACCEPT, AckStage.APPLICATION


def test_original_mode() -> None:
    h = read_header(ack_message())
    assert ack_mode(h) == "original"
    assert [decide_ack(h, o) for o in (OK, ERR, REJ)] == ["AA", "AE", "AR"]
    assert [decide_ack(h, o, stage=APP) for o in (OK, ERR, REJ)] == [None, None, None]


def test_original_mode_without_header_rejects() -> None:
    assert ack_mode(None) == "original"
    assert decide_ack(None, REJ) == "AR"
    assert decide_ack(None, REJ, stage=APP) is None


@pytest.mark.parametrize(
    ("msh15", "expected"),
    [
        ("AL", ["CA", "CE", "CR"]),
        ("NE", [None, None, None]),
        ("ER", [None, "CE", "CR"]),
        ("SU", ["CA", None, None]),
        ("", ["CA", "CE", "CR"]),  # enhanced via MSH-16 only: empty MSH-15 read as AL
        ("XX", ["CA", "CE", "CR"]),  # unknown condition read as AL
    ],
)
def test_enhanced_accept_ack_follows_msh15(msh15: str, expected: list[str | None]) -> None:
    h = read_header(ack_message(msh15, "AL"))
    assert ack_mode(h) == "enhanced"
    assert [decide_ack(h, o, stage=ACCEPT) for o in (OK, ERR, REJ)] == expected


@pytest.mark.parametrize(
    ("msh16", "expected"),
    [
        ("AL", ["AA", "AE", "AR"]),
        ("NE", [None, None, None]),
        ("ER", [None, "AE", "AR"]),
        ("SU", ["AA", None, None]),
        ("", ["AA", "AE", "AR"]),
    ],
)
def test_enhanced_application_ack_follows_msh16(msh16: str, expected: list[str | None]) -> None:
    h = read_header(ack_message("NE", msh16))
    assert [decide_ack(h, o, stage=APP) for o in (OK, ERR, REJ)] == expected
    assert decide_ack(h, OK, stage=ACCEPT) is None  # MSH-15 = NE


def test_acks_are_not_acknowledged() -> None:
    ack = b"MSH|^~\\&|A|B|C|D|1||ACK^R01^ACK|2|P|2.5\rMSA|AA|1\r"
    assert decide_ack(read_header(ack), OK) is None
    enhanced = b"MSH|^~\\&|A|B|C|D|1||ACK^R01^ACK|2|P|2.5|||AL|AL\rMSA|AA|1\r"
    assert decide_ack(read_header(enhanced), OK) == "CA"
    assert decide_ack(read_header(enhanced), OK, stage=APP) is None


def test_acknowledge_none_when_never() -> None:
    h = read_header(ack_message("NE", "NE"))
    assert acknowledge(h, OK) is None
    assert acknowledge(h, ERR, stage=APP) is None


def test_ack_mirrors_sender_and_keeps_charset() -> None:
    h = read_header(ack_message("AL", "NE", charset="8859/15"))
    out = acknowledge(h, OK, control_id="ACK1", text="Reçu €")
    assert out is not None
    assert "€".encode("iso8859-15") in out  # encoded in the message's charset
    ack = parse(out)
    assert ack.codec == "iso8859-15"
    assert ack.get("MSH-3") == "SIL-Y" and ack.get("MSH-4") == "labo"
    assert ack.get("MSH-5") == "PFI-X" and ack.get("MSH-6") == "Organisation-X"
    assert ack.raw("MSH-9") == "ACK^R01^ACK"
    assert ack.get("MSH-10") == "ACK1"
    assert (ack.get("MSH-11"), ack.get("MSH-12"), ack.get("MSH-18")) == ("P", "2.5", "8859/15")
    assert (ack.get("MSA-1"), ack.get("MSA-2"), ack.get("MSA-3")) == ("CA", "015", "Reçu €")
    assert ack.segment_ids == ["MSH", "MSA"]
    assert out.endswith(b"\r") and b"\n" not in out


def test_err_segments_hl7_coding() -> None:
    h = read_header(ack_message())
    errors = [
        AckError(101, "PID-3 missing", segment="PID", field=3),
        AckError(207, "store failed", severity="W"),
    ]
    ack = parse(build_ack(h, "AE", errors, text="rejected|see ERR"))
    assert ack.get("MSA-1") == "AE"
    assert ack.get("MSA-3") == "rejected|see ERR"
    assert ack.segment_ids == ["MSH", "MSA", "ERR", "ERR"]
    assert ack.raw("ERR-2") == "PID^1^3"
    assert ack.raw("ERR-3") == "101^Required field missing^HL70357"
    assert ack.get("ERR-4") == "E"
    assert ack.get("ERR-8") == "PID-3 missing"
    assert ack.get("ERR[2]-2") == ""
    assert ack.raw("ERR[2]-3") == "207^Application internal error^HL70357"
    assert ack.get("ERR[2]-4") == "W"


def test_err_segment_ans_application_codes() -> None:
    h = read_header(ack_message())
    err = AckError(207, "patient inconnu", segment="PID", field=3, application_code="902")
    out = acknowledge(h, ERR, [err], coding=ANS_CODING)
    assert out is not None
    ack = parse(out)
    assert ack.get("MSA-1") == "AE"
    assert ack.raw("ERR-3") == "207^Application internal error^messageErrorCondition"
    assert ack.raw("ERR-5") == "902^Identifiant patient inconnu^applicationErrorCode"
    other = AckError(207, "x", application_code="DMP^closed")
    assert parse(build_ack(h, "AE", [other])).raw("ERR-5") == "DMP\\S\\closed"


def test_enhanced_commit_error_with_err() -> None:
    h = read_header(ack_message("ER", "NE"))
    out = acknowledge(h, REJ, [AckError(203, "version", segment="MSH", field=12)])
    assert out is not None
    ack = parse(out)
    assert ack.get("MSA-1") == "CR"
    assert ack.raw("ERR-2") == "MSH^1^12"
    assert ack.get("ERR-3") == "203"


def test_bare_ack_without_header() -> None:
    ack = parse(build_ack(None, "AR", [AckError(100, "not HL7")]))
    assert ack.get("MSH-3") == "PASSERELLE"
    assert ack.get("MSA-1") == "AR" and ack.get("MSA-2") == ""
    assert ack.get("ERR-3") == "100"


def test_ascii_charset_replaces_unencodable() -> None:
    h = read_header(ack_message(charset="ASCII"))
    out = build_ack(h, "AA", text="Reçu")
    assert b"Re?u" in out


@pytest.mark.parametrize(
    ("code", "outcome"),
    [(0, OK), (100, ERR), (101, ERR), (103, ERR), (200, REJ), (203, REJ), (205, ERR), (207, REJ)],
)
def test_outcome_for_code(code: int, outcome: AckOutcome) -> None:
    assert outcome_for_code(code) is outcome
