"""Routing facts: consent flags of the ANS samples, A47/A40, INS and identity, and the
guarantee that no patient data becomes a fact."""

from __future__ import annotations

import pytest

from engine.config import WHEN_METADATA
from engine.formats.hl7v2 import parse
from engine.formats.hl7v2.pamfr.facts import FACT_KEYS, routing_facts
from engine.formats.hl7v2.pamfr.identity import InsChange, identifier_change, merge_of
from engine.formats.hl7v2.pamfr.ins import RULE_NO_VALI
from tests.engine.formats.hl7v2.pamfr.support import (
    CONSENT_FLAGS,
    CONSENTS,
    needs_corpus,
    sample,
    sample_names,
    with_event,
)


@needs_corpus
@pytest.mark.parametrize("stem", sorted(CONSENT_FLAGS))
def test_each_consent_sample_yields_its_zfa_flags(stem: str) -> None:
    facts = routing_facts(parse((CONSENTS / f"{stem}.er7").read_bytes()))
    got = (facts["dmp.feeding"], facts["dmp.opposition"], facts["dmp.consultation"])
    assert got == CONSENT_FLAGS[stem]
    assert facts["dmp.status"] == "ACTIF" and facts["ins.qualified"] == "true"


def test_admission_facts() -> None:
    facts = routing_facts(parse(sample("adt_a01_admission.hl7")))
    assert facts == {
        "pam.event": "A01",
        "pam.transaction": "ITI-31",
        "pam.movement_action": "INSERT",
        "pam.original_event": "",
        "pam.historic": "false",
        "pam.movement_nature": "HMS",
        "pam.merge": "false",
        "pam.ins_change": "none",
        "ins.kind": "nir",
        "ins.test": "true",
        "ins.qualified": "true",
        "ins.dropped": "false",
        "identity.status": "VALI",
        "identity.attributes": "",
        "dmp.status": "ACTIF",
        "dmp.opposition": "false",
        "dmp.feeding": "INO",
        "dmp.consultation": "IC",
    }


def test_cancel_and_update_facts() -> None:
    a11 = routing_facts(parse(sample("adt_a11_cancel_admission.hl7")))
    assert (a11["pam.movement_action"], a11["pam.original_event"]) == ("CANCEL", "A01")
    z99 = routing_facts(parse(sample("adt_z99_update_admission.hl7")))
    assert (z99["pam.movement_action"], z99["pam.original_event"]) == ("UPDATE", "A01")


def test_a47_ins_removal_and_change() -> None:
    removal = parse(sample("adt_a47_ins_removal.hl7"))
    facts = routing_facts(removal)
    assert (facts["pam.event"], facts["pam.ins_change"], facts["ins.kind"]) == (
        "A47",
        "removal",
        "none",
    )
    assert facts["identity.status"] == "PROV"
    change = identifier_change(removal)
    assert change is not None and change.previous_types == ("INS",) and change.involves_ins
    # the NIR change pattern: a new INS in PID-3, the previous one in MRG-1
    removal.set("PID-3[2].1", "279035121518989")
    removal.set("PID-32", "VALI")
    assert routing_facts(removal)["pam.ins_change"] == "change"
    # an A47 on the IPP does not touch the INS
    ipp = parse(sample("adt_a47_ins_removal.hl7"))
    ipp.set("MRG-1", "100999^^^CHU-EXEMPLE^PI", escape_value=False)
    ipp.set("PID-3[2].1", "285074410912393")
    assert identifier_change(ipp) is not None
    assert routing_facts(ipp)["pam.ins_change"] == InsChange.NONE == "none"


def test_a40_merge() -> None:
    msg = parse(sample("adt_a40_merge.hl7"))
    assert routing_facts(msg)["pam.merge"] == "true"
    merge = merge_of(msg)
    assert merge is not None and merge.groups == 1 and not merge.merges_ins
    assert routing_facts(parse(sample("adt_a31_update_patient.hl7")))["pam.merge"] == "false"


def test_ins_without_vali_rule_is_recorded_as_facts() -> None:
    msg = parse(sample("adt_a01_admission.hl7"))
    msg.set("PID-32", "PROV~DOUT", escape_value=False)
    facts = routing_facts(msg)
    assert facts["ins.kind"] == "nir" and facts["ins.dropped"] == "true"
    assert facts["ins.drop_reason"] == RULE_NO_VALI and facts["ins.qualified"] == "false"
    assert (facts["identity.status"], facts["identity.attributes"]) == ("PROV", "DOUT")


def test_unknown_event_has_no_facts_and_junk_codes_are_blanked() -> None:
    assert routing_facts(parse(with_event(sample("adt_a01_admission.hl7"), "A08"))) == {}
    msg = parse(sample("adt_a01_admission.hl7"))
    msg.set("ZBE-4", "DUPONT")
    msg.set("ZFA-1", "JEANNE")
    facts = routing_facts(msg)
    assert facts["pam.movement_action"] == "" and facts["dmp.status"] == ""


@pytest.mark.parametrize("name", sample_names())
def test_facts_hold_no_patient_data(name: str) -> None:
    msg = parse(sample(name))
    facts = routing_facts(msg)
    assert set(facts) <= set(FACT_KEYS)
    patient = [*msg.get_all("PID-3.1"), *msg.get_all("MRG-1.1"), msg.get("PID-7")]
    patient += [*msg.get_all("PID-5.1"), *msg.get_all("PID-5.2"), msg.get("PID-11.1")]
    values = " ".join(facts.values())
    for item in patient:
        if len(item) > 3:
            assert item not in values, name


def test_every_pam_when_key_reads_a_fact() -> None:
    pam = {k: v for k, v in WHEN_METADATA.items() if not v.startswith("hl7.")}
    assert set(pam.values()) <= set(FACT_KEYS)
    assert {"pam_event", "movement_action", "identity_status", "ins_qualified", "ins_kind"} <= set(
        pam
    )
    assert {"dmp_status", "dmp_opposition"} <= set(pam)


def test_movement_nature_fact_is_spelled_as_the_table() -> None:
    msg = parse(sample("adt_z99_update_admission.hl7"))
    for written, fact in (("HM", "MH"), ("HMC", "MHC"), ("SMH", "HMS"), ("XY", "")):
        msg.set("ZBE-9", written)
        assert routing_facts(msg)["pam.movement_nature"] == fact
