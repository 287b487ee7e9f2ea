"""PAM-FR at intake: the unknown-event policy, validation modes and their ACKs, facts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.mllp.config import MllpSourceConfig
from engine.formats.hl7v2 import parse
from engine.formats.hl7v2.ack import AckOutcome
from engine.intake.config import Hl7IntakeConfig
from engine.intake.hl7v2 import (
    DEFERRED_REVIEW,
    MAX_ACK_ERRORS,
    Hl7IntakeOptions,
    Verdict,
    examine,
    review_after_ack,
)
from tests.engine.formats.hl7v2.pamfr.support import sample, with_event, with_segment
from tests.support.mllp import msa

A01 = sample("adt_a01_admission.hl7")
SORTIE_ZBE = (
    "ZBE|002^CHU-X^000897406|20240306110000|20260309102840||INSERT|N||Urgences^^^^^^UF^^^8782||HMS"
)
INVALID = with_segment(sample("adt_a03_discharge.hl7"), "ZBE", SORTIE_ZBE)
STRICT = Hl7IntakeOptions(validation="strict")
REFUSE = Hl7IntakeOptions(unknown_events="refuse")
_REVIEWED = ("pam.", "ins.", "identity.", "dmp.", "validation.")


def segments(ack: bytes, name: str) -> list[list[str]]:
    return [s.split("|") for s in ack.decode().split("\r") if s.startswith(name + "|")]


@pytest.mark.parametrize("event", ["A08", "A37"])
def test_unknown_event_is_dropped_with_aa_by_default(event: str) -> None:
    exam = examine(with_event(A01, event), Hl7IntakeOptions())
    assert exam.verdict is Verdict.DROP and exam.outcome is AckOutcome.ACCEPTED
    assert exam.reason.startswith(f"event {event} is not used in PAM-FR")
    assert not any(k.startswith(("pam.", "validation.")) for k in exam.metadata)
    ack = exam.ack()
    assert ack is not None and msa(ack)[1:3] == ["AA", "ADT20261120093000001"]
    assert msa(ack)[3].startswith(f"event {event} is not used") and b"ERR|" not in ack


@pytest.mark.parametrize("event", ["A08", "A37"])
def test_unknown_event_is_refused_with_ae_201_when_configured(event: str) -> None:
    exam = examine(with_event(A01, event), REFUSE)
    assert exam.verdict is Verdict.REJECT and exam.outcome is AckOutcome.ERROR
    ack = exam.ack()
    assert ack is not None and msa(ack)[1] == "AE"
    (err,) = segments(ack, "ERR")
    assert err[2] == "MSH^1^9" and err[3].startswith("201^Unsupported event code") and err[4] == "E"


def test_valid_message_in_strict_mode_gets_a_plain_aa_with_facts() -> None:
    exam = examine(A01, STRICT)
    assert exam.verdict is Verdict.ACCEPT and exam.errors == ()
    md = exam.metadata
    assert (md["pam.event"], md["ins.qualified"], md["dmp.opposition"]) == ("A01", "true", "false")
    assert (md["validation.findings"], md["validation.errors"]) == ("0", "0")
    assert "validation.report" not in md and md["hl7.control_id"] == "ADT20261120093000001"
    ack = exam.ack()
    assert ack is not None and msa(ack)[1] == "AA" and b"ERR|" not in ack


def test_strict_mode_refuses_with_ae_and_err_pointing_at_segment_field_code() -> None:
    exam = examine(INVALID, STRICT)
    assert exam.verdict is Verdict.REJECT and exam.outcome is AckOutcome.ERROR
    assert exam.reason.startswith("PAM-FR validation failed: 4 error(s), first at ZBE-3: ")
    ack = exam.ack()
    assert ack is not None and msa(ack)[1] == "AE"
    errs = [(e[2], e[3].split("^")[0], e[4]) for e in segments(ack, "ERR")]
    assert errs == [
        ("ZBE^1^3", "198", "E"),
        ("ZBE^1^4", "101", "E"),
        ("ZBE^1^5", "103", "E"),
        ("ZBE^1^9", "101", "E"),
        ("ZBE^1^6", "103", "W"),
    ]
    report = json.loads(exam.metadata["validation.report"])
    assert [r["at"] for r in report] == ["ZBE-3", "ZBE-4", "ZBE-5", "ZBE-9", "ZBE-6"]
    assert exam.metadata["validation.errors"] == "4"


def test_strict_refusal_in_enhanced_mode_is_ce() -> None:
    raw = INVALID.replace(b"|2.5^FRA^2.11|||||FRA|", b"|2.5^FRA^2.11|||AL|NE|FRA|")
    ack = examine(raw, STRICT).ack()
    assert ack is not None and msa(ack)[1] == "CE"


def test_warn_mode_acks_on_the_header_and_reviews_after_the_ack() -> None:
    exam = examine(INVALID, Hl7IntakeOptions())
    assert exam.verdict is Verdict.ACCEPT and exam.outcome is AckOutcome.ACCEPTED
    assert exam.errors == () and exam.metadata[DEFERRED_REVIEW] == "warn"
    assert not any(k.startswith(("pam.", "validation.")) for k in exam.metadata)
    ack = exam.ack()
    assert ack is not None and msa(ack)[1] == "AA" and b"ERR|" not in ack
    # the pipeline's review finds what strict mode finds, for the record and routing
    facts = review_after_ack(INVALID, exam.metadata)
    strict = examine(INVALID, STRICT).metadata
    assert facts == {k: v for k, v in strict.items() if k.startswith(_REVIEWED)}
    assert (facts["validation.findings"], facts["validation.errors"]) == ("5", "4")


def test_review_after_ack_without_a_deferred_review_adds_nothing() -> None:
    assert review_after_ack(A01, examine(A01, STRICT).metadata) == {}
    assert review_after_ack(A01, {"hl7.codec": "utf-8"}) == {}


def test_the_report_counts_every_finding() -> None:
    msg = parse(A01)
    for n in (2, 4, 9, 12, 19, 20, 28, 10, 17, 22):
        msg.set(f"PID-{n}", "X")
    msg.set("PV1-40", "X")
    for n in range(4, 9):
        msg.set(f"ZFA-{n}", "X")
    for field in ("ZFD-2", "ZFD-3", "ZFD-4", "ZFD-5", "ZFD-6", "ZFP-1", "ZFM-1"):
        msg.set(field, "??")
    raw = msg.to_bytes()
    facts = review_after_ack(raw, examine(raw, Hl7IntakeOptions()).metadata)
    assert int(facts["validation.findings"]) > MAX_ACK_ERRORS
    assert len(examine(raw, STRICT).errors) == MAX_ACK_ERRORS


def test_off_mode_keeps_the_facts_without_validation() -> None:
    exam = examine(INVALID, Hl7IntakeOptions(validation="off"))
    assert exam.verdict is Verdict.ACCEPT and exam.errors == ()
    facts = review_after_ack(INVALID, exam.metadata)
    assert facts["pam.event"] == "A03" and "validation.findings" not in facts


def test_profile_none_and_non_adt_messages_only_read_msh() -> None:
    exam = examine(INVALID, Hl7IntakeOptions(profile="none", validation="strict"))
    assert exam.verdict is Verdict.ACCEPT and "pam.event" not in exam.metadata
    oru = INVALID.replace(b"ADT^A03^ADT_A03", b"ORU^R01^ORU_R01")
    exam = examine(oru, STRICT)
    assert exam.verdict is Verdict.ACCEPT and not any(k.startswith("pam.") for k in exam.metadata)
    a08 = with_event(A01, "A08")
    assert examine(a08, Hl7IntakeOptions(profile="none", unknown_events="refuse")).verdict is (
        Verdict.ACCEPT
    )


def test_ins_without_vali_is_accepted_integrated_without_the_ins_and_recorded() -> None:
    msg = parse(A01)
    msg.set("PID-32", "PROV")
    exam = examine(msg.to_bytes(), STRICT)
    assert exam.verdict is Verdict.ACCEPT  # a warning, never a refusal
    md = exam.metadata
    assert (md["ins.kind"], md["ins.dropped"], md["ins.qualified"]) == ("nir", "true", "false")
    assert "integrated without the INS" in md["ins.drop_reason"]
    assert json.loads(md["validation.report"])[0]["at"] == "PID-32"
    assert "285074410912393" not in json.dumps(dict(md))


def test_a47_and_a40_facts_at_intake() -> None:
    a47 = examine(sample("adt_a47_ins_removal.hl7"), STRICT)
    assert a47.verdict is Verdict.ACCEPT and a47.metadata["pam.ins_change"] == "removal"
    a40 = examine(sample("adt_a40_merge.hl7"), STRICT)
    assert a40.verdict is Verdict.ACCEPT and a40.metadata["pam.merge"] == "true"


def test_undecodable_body_is_refused_by_default_in_every_validation_mode() -> None:
    raw = A01.replace(b"LEGRAND", b"LEGR\xe9ND")  # not UTF-8
    for options in (Hl7IntakeOptions(), STRICT):  # hl7.on_decode_error: reject
        exam = examine(raw, options)
        assert exam.verdict is Verdict.REJECT and exam.outcome is AckOutcome.ERROR
        assert [(e.code, e.segment, e.field) for e in exam.errors] == [(102, "PID", 5)]
    replaced = examine(raw, Hl7IntakeOptions(on_decode_error="replace"))
    assert replaced.verdict is Verdict.ACCEPT and replaced.metadata["hl7.decode"] == "replace"
    assert review_after_ack(raw, replaced.metadata)["validation.errors"] == "0"


def test_channel_config_defaults_and_options() -> None:
    config = MllpSourceConfig.model_validate({"listen": "127.0.0.1:0"})
    assert config.hl7 == Hl7IntakeConfig()
    assert (config.hl7.profile, config.hl7.validation, config.hl7.unknown_events) == (
        "pam_fr",
        "warn",
        "accept",
    )
    custom = Hl7IntakeConfig(validation="strict", unknown_events="refuse")
    assert custom.options("iso8859-1") == Hl7IntakeOptions(
        "iso8859-1", "pam_fr", "strict", "refuse"
    )
    for key in ("profile", "validation", "unknown_events"):
        info = Hl7IntakeConfig.model_fields[key]
        assert info.description and info.examples


_SAMPLES = [sample(n) for n in ("adt_a01_admission.hl7", "adt_a47_ins_removal.hl7")]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(_SAMPLES),
    st.integers(min_value=60, max_value=900),
    st.binary(min_size=0, max_size=6),
)
def test_examine_never_raises_on_damaged_messages(raw: bytes, at: int, junk: bytes) -> None:
    damaged = raw[:at] + junk + raw[at + len(junk) :]
    for options in (STRICT, Hl7IntakeOptions()):
        exam = examine(damaged, options)
        assert exam.verdict in (Verdict.ACCEPT, Verdict.REJECT, Verdict.DROP)
        assert all(isinstance(v, str) for v in exam.metadata.values())
        facts = review_after_ack(damaged, exam.metadata)
        assert all(isinstance(v, str) for v in facts.values())
