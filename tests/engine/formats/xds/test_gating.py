"""DMP gating: qualified INS, traits, no opposition; each refusal with its ANS code."""

from __future__ import annotations

import pytest

from engine.errors import PermanentDeliveryError
from engine.formats.cda import Hl7Identity, Ins, read_cda
from engine.formats.xds import GatePolicy, check_cda, check_facts, hl7_facts, refuse
from tests.engine.formats.cda.builders import TEST_INS, cda


def codes(raw: bytes, policy: GatePolicy | None = None) -> list[str]:
    return [r.code for r in check_cda(read_cda(raw).header, policy)]


def test_a_qualified_document_passes() -> None:
    assert codes(cda()) == []
    assert check_facts({"ins.qualified": "true", "dmp.opposition": "false"}) == []


def test_no_ins_is_903() -> None:
    (refusal,) = check_cda(read_cda(cda(ins=None)).header)
    assert refusal.code == "903"
    assert str(refusal).startswith("ANS 903 (INS non présent dans le document): ")


def test_nia_wrong_key_and_missing_traits() -> None:
    # The volet accepts an INS-NIR or an INS-NIA: NIA passes by default, and a structure
    # that wants NIR only says so with accepted_ins_oids.
    assert codes(cda(ins_root="1.2.250.1.213.1.4.9")) == []
    nir_only = GatePolicy(frozenset({"1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.10"}))
    assert codes(cda(ins_root="1.2.250.1.213.1.4.9"), nir_only) == ["903"]
    assert codes(cda(), nir_only) == []
    assert codes(cda(ins="221042545611404")) == ["903"]
    assert codes(cda(traits=False)) == ["905"]
    assert codes(cda(traits=False), GatePolicy(require_traits=False)) == []


@pytest.mark.parametrize(
    ("facts", "code"),
    [
        ({"ins.qualified": "false"}, "903"),
        ({"ins.match": "false"}, "904"),
        ({"dmp.opposition": "true"}, "906"),
        ({"dmp.status": "FERME"}, "906"),
        ({"dmp.status": "INEXISTANT"}, "906"),
    ],
)
def test_facts_from_intake(facts: dict[str, str], code: str) -> None:
    (refusal,) = check_facts(facts)
    assert refusal.code == code


def test_hl7_facts_compare_the_pid_ins_with_the_cda_ins() -> None:
    pid = Ins.of(TEST_INS, "1.2.250.1.213.1.4.10")
    other = Ins.of("277076322082910", "1.2.250.1.213.1.4.10")
    assert hl7_facts(Hl7Identity(pid, True, False), [pid]) == {
        "ins.qualified": "true",
        "dmp.opposition": "false",
        "ins.match": "true",
    }
    facts = hl7_facts(Hl7Identity(pid, False, True), [other])
    assert facts == {"ins.qualified": "false", "dmp.opposition": "true", "ins.match": "false"}
    assert [r.code for r in check_facts(facts)] == ["903", "904", "906"]
    assert hl7_facts(Hl7Identity(None, True, False))["ins.qualified"] == "false"


def test_refuse_raises_a_permanent_error_naming_every_reason_without_patient_data() -> None:
    refusals = check_cda(read_cda(cda(traits=False)).header) + check_facts(
        {"dmp.opposition": "true"}
    )
    with pytest.raises(PermanentDeliveryError) as caught:
        refuse(refusals)
    text = str(caught.value)
    assert text.startswith("not sent to the DMP: ANS 905") and "ANS 906" in text
    assert TEST_INS not in text and "TESTPATIENT" not in text
    refuse([])  # nothing to refuse: returns
