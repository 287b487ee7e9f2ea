"""Route transforms that prepare DMP submissions from HL7 ORU/MDM and from CDA envelopes."""

from __future__ import annotations

import pytest

from engine.errors import MappingError
from engine.formats.cda import CDA_CONTENT_TYPE, Action
from engine.formats.xds import DMP_DOCUMENTS, dmp_submission_from_cda, dmp_submission_from_hl7
from engine.formats.xds.payload import decode
from engine.message import HL7V2, Envelope
from tests.engine.formats.cda.builders import cda, oru


def envelope(raw: bytes, content_type: str = HL7V2, **metadata: str) -> Envelope:
    return Envelope.new(channel="in", raw=raw, content_type=content_type, metadata=metadata)


def test_oru_becomes_a_documents_payload_with_facts() -> None:
    transform = dmp_submission_from_hl7()
    payload = transform(envelope(oru(cda(), obx11="C"), **{"hl7.control_id": "CTRL1"}))
    assert payload.content_type == DMP_DOCUMENTS
    assert payload.metadata == {"hl7.control_id": "CTRL1"}
    request = decode(payload.body, payload.content_type, payload.metadata)
    (doc,) = request.documents
    assert doc.content == cda() and doc.action is Action.REPLACE
    assert doc.confidentiality == ("MASQUE_PS",)
    assert request.destined and request.content_type == "07"  # PV1-2 O
    assert request.facts["ins.qualified"] == "true" and request.facts["ins.match"] == "true"
    assert request.facts["dmp.opposition"] == "false"


def test_facts_say_when_the_identity_or_the_patient_does_not_allow_the_dmp() -> None:
    raw = oru(cda(ins="277076322082910"), pid32="PROV", zfa="ZFA|ACTIF||||||||IO", destdmp="N")
    payload = dmp_submission_from_hl7()(envelope(raw))
    request = decode(payload.body, payload.content_type, {})
    assert not request.destined
    assert request.facts["ins.qualified"] == "false"
    assert request.facts["ins.match"] == "false"
    assert request.facts["dmp.opposition"] == "true"


def test_opposition_recorded_at_intake_is_kept() -> None:
    payload = dmp_submission_from_hl7()(envelope(oru(cda()), **{"dmp.opposition": "true"}))
    assert decode(payload.body, payload.content_type, {}).facts["dmp.opposition"] == "true"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not hl7", "HL7 → DMP"),
        (oru(b"Document medical au format CDA"), r"OBX\[1\] is not a usable CDA"),
        (oru(cda()).replace(b"OBX|1|ED|", b"OBX|1|ST|"), "carries no CDA document"),
    ],
)
def test_unusable_messages_are_mapping_errors(raw: bytes, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        dmp_submission_from_hl7()(envelope(raw))


def test_cda_envelopes_pass_through() -> None:
    payload = dmp_submission_from_cda()(envelope(cda(), CDA_CONTENT_TYPE, **{"cda.level": "3"}))
    assert (payload.body, payload.content_type) == (cda(), CDA_CONTENT_TYPE)
    (doc,) = decode(payload.body, payload.content_type, payload.metadata).documents
    assert doc.action is Action.INITIAL
