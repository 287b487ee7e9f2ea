"""HL7v2 intake decisions: examine() verdicts and the ACK each one produces."""

from __future__ import annotations

from engine.formats.hl7v2.ack import AckOutcome
from engine.intake.hl7v2 import Hl7IntakeOptions, Verdict, examine
from tests.support.mllp import adt, msa

OPTIONS = Hl7IntakeOptions()


def test_valid_message_is_accepted_with_routing_metadata() -> None:
    exam = examine(adt("C1"), OPTIONS)
    assert exam.verdict is Verdict.ACCEPT and exam.outcome is AckOutcome.ACCEPTED
    assert exam.metadata["hl7.control_id"] == "C1"
    assert exam.metadata["hl7.trigger_event"] == "A01"
    ack = exam.ack()
    assert ack is not None and msa(ack)[1:3] == ["AA", "C1"]


def test_missing_control_id_is_rejected_with_err_101_and_mirrored_header() -> None:
    exam = examine(adt("X").replace(b"|X|P|", b"||P|"), OPTIONS)
    assert exam.verdict is Verdict.REJECT and "MSH-10" in exam.reason
    assert [(e.code, e.segment, e.field) for e in exam.errors] == [(101, "MSH", 10)]
    ack = exam.ack()
    assert ack is not None
    assert ack.startswith(b"MSH|^~\\&|PASSERELLE|GRADES|GAM|CHU-EXEMPLE|")
    assert msa(ack)[1] == "AR"


def test_garbage_is_rejected_with_a_bare_ack() -> None:
    exam = examine(b"\x00\x01garbage", OPTIONS)
    assert exam.verdict is Verdict.REJECT and exam.header is None
    ack = exam.ack()
    assert ack is not None and msa(ack)[1:3] == ["AR", ""]


def test_enhanced_mode_ne_means_no_accept_ack() -> None:
    # MSH-15 = NE: the sender wants no commit acknowledgement at all
    raw = adt("E1").replace(b"|2.5^FRA^2.11|||||FRA|", b"|2.5^FRA^2.11|||NE|AL|FRA|")
    exam = examine(raw, OPTIONS)
    assert exam.verdict is Verdict.ACCEPT
    assert exam.header is not None and exam.header.accept_ack_type == "NE"
    assert exam.ack() is None
