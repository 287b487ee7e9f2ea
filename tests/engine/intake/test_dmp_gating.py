"""DMP gating at HL7v2 intake (``hl7: {dmp_gating: refuse}``): an ORU/MDM whose CDA
documents may not go to the DMP is answered AE with ERR-5 = the ANS code (903-906)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.app import Engine
from engine.formats.hl7v2.ack import AckOutcome
from engine.intake.config import Hl7IntakeConfig
from engine.intake.dmp_gate import REFUSALS
from engine.intake.hl7v2 import Examination, Hl7IntakeOptions, Verdict, examine
from engine.message import MessageState
from engine.store.base import MessageQuery
from tests.engine.formats.cda.builders import TEST_INS, cda, oru
from tests.support.corpus import ABSENT, CORPUS
from tests.support.engines import mllp_port, running_engine
from tests.support.mllp import MllpPeer, msa

GATED = Hl7IntakeOptions(dmp_gating="refuse")
MISMATCH = (
    CORPUS / "hl7v2/ans/Volets/TRANS_DOC_CDA_HL7V2/V2.1/ORU/Remplacement ORU"
    "/message_ORU_CR_Bio_RPLC_N1_Base64_N3_Base64.er7"
)
OPPOSED = "ZFA|ACTIF||||||||IO"


def app_codes(exam: Examination) -> list[str | None]:
    return [e.application_code for e in exam.errors]


def assert_refused(exam: Examination, *codes: str) -> None:
    assert exam.verdict is Verdict.REJECT and exam.outcome is AckOutcome.ERROR
    assert app_codes(exam) == list(codes)
    assert {e.code for e in exam.errors} == {207}
    assert exam.reason.startswith("not sent to the DMP: ANS ")
    assert exam.metadata[REFUSALS] == ",".join(codes)
    assert TEST_INS not in exam.reason and "TESTPATIENT" not in exam.reason


def test_qualified_identity_is_accepted_unchanged() -> None:
    raw = oru(cda())
    exam = examine(raw, GATED)
    assert exam == examine(raw, Hl7IntakeOptions())
    assert exam.verdict is Verdict.ACCEPT and not exam.errors and REFUSALS not in exam.metadata


def test_cda_without_ins_is_903() -> None:
    assert_refused(examine(oru(cda(ins=None)), GATED), "903")


def test_pid32_not_vali_is_903() -> None:
    assert_refused(examine(oru(cda(), pid32="PROV"), GATED), "903")


def test_incomplete_traits_are_905() -> None:
    assert_refused(examine(oru(cda(traits=False)), GATED), "905")


def test_opposition_and_closed_dmp_are_906() -> None:
    assert_refused(examine(oru(cda(), zfa=OPPOSED), GATED), "906")
    assert_refused(examine(oru(cda(), zfa="ZFA|FERME"), GATED), "906")


def test_several_refusals_give_one_err_each_with_ans_coding() -> None:
    exam = examine(oru(cda(traits=False), pid32="PROV", zfa=OPPOSED), GATED)
    assert_refused(exam, "903", "906", "905")
    ack = exam.ack()
    assert ack is not None
    segments = ack.decode().split("\r")
    assert segments[1].startswith("MSA|AE|CTRL1|not sent to the DMP")
    errs = [s for s in segments if s.startswith("ERR")]
    assert len(errs) == 3
    assert errs[0].startswith(
        "ERR|||207^Application internal error^messageErrorCondition|E|"
        "903^INS non présent dans le document^applicationErrorCode|||"
    )


@pytest.mark.skipif(not MISMATCH.is_file(), reason=ABSENT)
def test_ans_oru_whose_cda_ins_differs_from_pid_is_904() -> None:
    options = Hl7IntakeOptions(profile="none", dmp_gating="refuse")
    assert_refused(examine(MISMATCH.read_bytes(), options), "904")


def test_not_dmp_bound_or_no_document_or_option_off_is_accepted() -> None:
    refused = oru(cda(ins=None))
    assert examine(refused, Hl7IntakeOptions()).verdict is Verdict.ACCEPT
    assert examine(oru(cda(ins=None), destdmp="N"), GATED).verdict is Verdict.ACCEPT
    no_flag = refused.replace(b"DESTDMP", b"DESTMSSANTEPS")
    assert app_codes(examine(no_flag, GATED)) == ["903"]  # absent DESTDMP: DMP-bound
    no_document = b"\r".join(s for s in refused.split(b"\r") if b"|ED|" not in s)
    assert examine(no_document, GATED).verdict is Verdict.ACCEPT
    adt = refused.replace(b"ORU^R01^ORU_R01", b"ADT^A28^ADT_A05")
    assert REFUSALS not in examine(adt, GATED).metadata


def test_unreadable_document_is_906_and_unreadable_body_is_refused() -> None:
    exam = examine(oru(b"<not a cda"), GATED)
    assert_refused(exam, "906")
    assert "(malformed)" in exam.reason
    bad_body = oru(cda()).replace(b"TEST^A", b"TEST\xe9")  # not UTF-8
    exam = examine(bad_body, GATED)  # refused before the gating (hl7.on_decode_error: reject)
    assert exam.verdict is Verdict.REJECT and exam.outcome is AckOutcome.ERROR
    assert [(e.code, e.segment, e.field) for e in exam.errors] == [(102, "PID", 5)]
    assert exam.reason.startswith("the message is not valid utf-8")


def test_channel_setting_is_documented_and_reaches_the_options() -> None:
    assert Hl7IntakeConfig().options("utf-8").dmp_gating == "off"
    assert Hl7IntakeConfig(dmp_gating="refuse").options("utf-8") == GATED
    info = Hl7IntakeConfig.model_fields["dmp_gating"]
    assert info.description and info.examples == ["off", "refuse"]


CONFIG = """\
version: 1
engine: {{home: {home}, workers: 1, shutdown_grace: 2s}}
channels:
  lab_in:
    type: mllp
    listen: "127.0.0.1:0"
    hl7: {{dmp_gating: refuse}}
destinations:
  archive: {{type: file, directory: {home}/out}}
routes:
  - name: results
    when: {{message_type: ORU}}
    to: [archive]
"""


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    async with running_engine(CONFIG.format(home=tmp_path)) as eng:
        yield eng


async def test_over_mllp_a_refused_oru_gets_ae_with_err5_and_is_recorded_rejected(
    engine: Engine,
) -> None:
    port = mllp_port(engine)
    refused = oru(cda(), pid32="PROV")
    async with MllpPeer("127.0.0.1", port) as peer:
        ack = await peer.exchange(refused)
        assert msa(ack)[1:3] == ["AE", "CTRL1"]
        assert "|903^INS non présent dans le document^applicationErrorCode|" in ack.decode()
        good = oru(cda()).replace(b"|CTRL1|", b"|CTRL2|")
        assert msa(await peer.exchange(good))[1:3] == ["AA", "CTRL2"]
    (rejected,) = await engine.store.list_messages(MessageQuery(state=MessageState.REJECTED))
    assert rejected.envelope.raw == refused
    assert rejected.reason is not None and rejected.reason.startswith(
        "not sent to the DMP: ANS 903"
    )
    assert rejected.envelope.metadata[REFUSALS] == "903"
    assert not await engine.store.deliveries(rejected.envelope.id)
