"""Reading a message whose bytes are not valid in its declared charset, as intake decided."""

from __future__ import annotations

import pytest

from engine.errors import ParseError
from engine.formats.hl7v2 import decode_error, parse, parse_stored
from engine.intake.hl7v2 import Hl7IntakeOptions, OnDecodeError, examine
from engine.message import HL7V2, Envelope
from engine.queue.ordering import OrderingRule
from tests.support.mllp import adt

DAMAGED = adt("D1", pid="PID|1||123^^^CHU&1.2.3&ISO^PI||HéBERT^ANNE").replace(
    "HéBERT".encode(), "HéBERT".encode("latin-1")
)  # declared UTF-8, one ISO 8859-1 byte


def test_decode_error_locates_the_byte_without_quoting_it() -> None:
    error = decode_error(DAMAGED, "utf-8")
    assert error is not None and (error.code, error.segment, error.field) == (207, "PID", 5)
    assert (
        str(error)
        == "the message is not valid utf-8 (declared by MSH-18): undecodable byte in PID-5"
    )
    assert decode_error(adt("OK"), "utf-8") is None
    with pytest.raises(ParseError):
        parse(DAMAGED)


@pytest.mark.parametrize(("mode", "family"), [("replace", "H\ufffdBERT"), ("fallback", "HéBERT")])
def test_every_reader_sees_what_intake_decided(mode: OnDecodeError, family: str) -> None:
    exam = examine(DAMAGED, Hl7IntakeOptions(on_decode_error=mode))
    assert exam.metadata["hl7.decode"] == mode
    assert parse_stored(DAMAGED, exam.metadata).get("PID-5.1") == family
    envelope = Envelope.new(channel="in", raw=DAMAGED, content_type=HL7V2, metadata=exam.metadata)
    assert OrderingRule("patient").key_of(envelope) is not None  # the ordering key reads it too
    unflagged = Envelope.new(channel="in", raw=DAMAGED, content_type=HL7V2, metadata={})
    assert OrderingRule("patient").key_of(unflagged) is None  # unreadable without the decision


@pytest.mark.parametrize("mode", ["replace", "fallback"])
def test_a_stored_header_carries_the_decision_to_the_intake_reviews(mode: OnDecodeError) -> None:
    from engine.formats.hl7v2.parser import read_stored_header
    from engine.intake.pam_fr import review

    exam = examine(DAMAGED, Hl7IntakeOptions(on_decode_error=mode))
    header = read_stored_header(DAMAGED, exam.metadata)
    assert header.decoding == mode
    findings = review(DAMAGED, header, validated=True).findings
    assert not [f for f in findings if "cannot be read" in f.text]
    plain = read_stored_header(DAMAGED, {})
    assert [
        f for f in review(DAMAGED, plain, validated=True).findings if "cannot be read" in f.text
    ]
