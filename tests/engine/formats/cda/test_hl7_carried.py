"""CDA documents carried in ORU^R01 / MDM^T02/T04/T10: extraction, actions, identity facts."""

from __future__ import annotations

import pytest

from engine.errors import DocumentError
from engine.formats.cda import Action, extract_documents, identity, meta_flags, read_cda
from engine.formats.hl7v2 import parse
from tests.engine.formats.cda.builders import TEST_INS, cda, oru
from tests.support.corpus import ABSENT, CORPUS

VOLET = CORPUS / "hl7v2" / "ans" / "Vague 2" / "Trans_Doc-CDA-HL7V2"
V21 = VOLET / "TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1"
INIT_MDM = "MDM/Transmission initiale MDM"
needs_corpus = pytest.mark.skipif(not V21.is_dir(), reason=ABSENT)


def test_document_action_and_flags_from_a_synthetic_oru() -> None:
    msg = parse(oru(cda(), obx11="C"))
    (doc,) = extract_documents(msg)
    assert doc.action is Action.REPLACE and doc.obx == 1 and doc.type_code == "11502-2"
    assert doc.content == cda()  # unpadded Base64 restored
    assert meta_flags(msg) == {"MASQUE_PS": True, "DESTDMP": True}
    facts = identity(msg)
    assert facts.qualified and not facts.opposition
    assert facts.ins is not None and facts.ins.value == TEST_INS


def test_inline_xml_is_unescaped() -> None:
    (doc,) = extract_documents(parse(oru(cda(), inline=True)))
    assert read_cda(doc.content).header.id is not None


def test_unqualified_identity_and_opposition() -> None:
    zfa = "ZFA|ACTIF||||||||IO"
    facts = identity(parse(oru(cda(), pid32="PROV~FICT", zfa=zfa)))
    assert not facts.qualified and facts.opposition


def test_bad_base64_is_a_document_error() -> None:
    raw = oru(cda()).replace(b"^Base64^", b"^Base64^%%%", 1)
    with pytest.raises(DocumentError):
        extract_documents(parse(raw))


@needs_corpus
@pytest.mark.parametrize(
    ("path", "action", "level"),
    [
        ("ORU/Transmission initiale ORU/message_ORU_CR_Bio_INIT_N3_SEGUR.hl7", Action.INITIAL, 3),
        ("ORU/Remplacement ORU/message_ORU_CR_Bio_RPLC_N3_SEGUR.hl7", Action.REPLACE, 3),
        ("ORU/Suppression ORU/message_ORU_CR_Bio_DEL_N3_SEGUR.hl7", Action.DELETE, 1),
        (f"{INIT_MDM}/message_MDM_CR_Radio_INIT_N1_Base64.er7", Action.INITIAL, 1),
        ("MDM/Remplacement MDM/message_MDM_CR_Radio_RPLC_N1.er7", Action.REPLACE, 1),
        ("MDM/Suppression MDM/message_MDM_CR_Radio_DEL_N1.er7", Action.DELETE, 1),
    ],
)
def test_ans_messages(path: str, action: Action, level: int) -> None:
    msg = parse((V21 / path).read_bytes())
    (doc,) = extract_documents(msg)
    assert doc.action is action
    assert int(read_cda(doc.content).level) == level
    assert identity(msg).qualified


@needs_corpus
def test_mdm_replacement_carries_txa_ids() -> None:
    msg = parse((V21 / "MDM/Remplacement MDM/message_MDM_CR_Radio_RPLC_N1.er7").read_bytes())
    (doc,) = extract_documents(msg)
    assert doc.unique_id.endswith(".71024000082") and doc.parent_unique_id.endswith(".71024000081")


@needs_corpus
def test_placeholder_payloads_are_not_parseable_documents() -> None:
    msg = parse((V21 / INIT_MDM / "message_MDM_CR_Radio_INIT_N1.er7").read_bytes())
    (doc,) = extract_documents(msg)
    with pytest.raises(DocumentError):
        read_cda(doc.content)
