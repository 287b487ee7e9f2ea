"""The maps of mappings/: they compile cleanly, their outputs are valid FHIR R4B, identical
inputs give identical (idempotent) bundles, and the PAM-FR → FR Core rules hold. The golden
files themselves are compared by the YAML cases beside each map (mappings/*_test.yaml)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.mapping import CompiledMap, check_map, compile_map, fhir_problems
from tests.engine.mapping.conftest import A01, REPO

MAPPINGS = REPO / "mappings"
SAMPLES = sorted((REPO / "samples" / "hl7v2").glob("adt_*.hl7"))
INPUTS = REPO / "tests" / "routes" / "inputs"


@pytest.fixture(scope="module")
def adt() -> CompiledMap:
    return compile_map(MAPPINGS / "pam_fr_adt_to_fr_core.yaml")


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_every_map_compiles_without_any_diagnostic() -> None:
    maps = [p for p in MAPPINGS.glob("*.yaml") if not p.stem.endswith("_test")]
    assert {p.stem for p in maps} >= {
        "pam_fr_adt_to_fr_core",
        "oru_to_fr_core",
        "pam_fr_adt_to_notification",
    }
    for path in maps:
        assert check_map(path) == [], path.name


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_every_adt_sample_gives_a_valid_idempotent_transaction(
    adt: CompiledMap, sample: Path
) -> None:
    bundle = adt.apply(sample.read_bytes())
    assert fhir_problems(bundle) == []
    assert bundle["type"] == "transaction"
    for entry in bundle["entry"]:
        # Conditional update on a business identifier, deterministic full URL
        assert entry["request"]["method"] == "PUT"
        assert "?identifier=" in entry["request"]["url"]
        assert entry["fullUrl"].startswith("urn:uuid:")
    assert adt.apply(sample.read_bytes()) == bundle  # a redelivery gives the same bundle


def test_ins_is_kept_only_with_vali_and_the_nir_wins_over_the_nia(adt: CompiledMap) -> None:
    # Given the A01 with its PID-32 downgraded to PROV
    prov = A01.replace(b"|N||VALI\r", b"|N||PROV\r")
    (patient,) = resources(adt.apply(prov), "Patient")
    # Then the INS is left out (PAM-FR §6.6.15) and the identity is provisional
    assert [i["type"]["coding"][0]["code"] for i in patient["identifier"]] == ["PI"]
    assert patient["meta"]["profile"] == [
        "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient"
    ]
    status = patient["extension"][0]["extension"][0]["valueCoding"]["code"]
    assert status == "PROV"
    # Given a NIA sent before the NIR (PAM-FR §4.4.1), the NIR is the one kept
    nia = b"191017510112302^^^ASIP-SANTE-INS-NIA&1.2.250.1.213.1.4.9&ISO^INS~"
    both = A01.replace(b"^PI~285074410912393", b"^PI~" + nia + b"285074410912393")
    (patient,) = resources(adt.apply(both), "Patient")
    ins = [i for i in patient["identifier"] if i["system"].startswith("urn:oid:1.2.250.1.213")]
    assert [(i["value"], i["use"]) for i in ins] == [("285074410912393", "official")]


def test_the_pid32_mapping_is_a_table_that_can_be_changed(tmp_path: Path) -> None:
    # Given a site that maps PAM VALI with an INS to another code than VALI
    shutil.copytree(MAPPINGS / "tables", tmp_path / "tables")
    shutil.copy(MAPPINGS / "pam_fr_adt_to_fr_core.yaml", tmp_path)
    table = tmp_path / "tables" / "identity_status.yaml"
    table.write_text(table.read_text().replace("VALI: {with_ins: VALI", "VALI: {with_ins: RECUP"))
    # When the map is compiled again
    bundle = compile_map(tmp_path / "pam_fr_adt_to_fr_core.yaml").apply(A01)
    (patient,) = resources(bundle, "Patient")
    # Then the status follows the table
    assert patient["extension"][0]["extension"][0]["valueCoding"]["code"] == "RECUP"


def test_cancels_give_the_state_after_the_cancel(adt: CompiledMap) -> None:
    discharge = (REPO / "samples" / "hl7v2" / "adt_a03_discharge.hl7").read_bytes()
    # A13 cancels the discharge: the stay is in progress again, without an end
    a13 = discharge.replace(b"ADT^A03^ADT_A03", b"ADT^A13^ADT_A01").replace(
        b"|INSERT|N|", b"|CANCEL|N|A03"
    )
    venue, movement = resources(adt.apply(a13), "Encounter")
    # (even though the A13 still carries the discharge time in PV1-45)
    assert venue["status"] == "in-progress" and "end" not in venue["period"]
    assert movement["status"] == "entered-in-error"
    # A12 cancels a transfer: the stay goes on, the transfer movement is entered-in-error
    transfer = (REPO / "samples" / "hl7v2" / "adt_a02_transfer.hl7").read_bytes()
    a12 = transfer.replace(b"ADT^A02^ADT_A02", b"ADT^A12^ADT_A12").replace(
        b"|INSERT|N|", b"|CANCEL|N|A02"
    )
    venue, movement = resources(adt.apply(a12), "Encounter")
    assert (venue["status"], movement["status"]) == ("in-progress", "entered-in-error")


def test_a47_removes_the_ins_and_a40_links_both_patients(adt: CompiledMap) -> None:
    a47 = adt.apply((REPO / "samples" / "hl7v2" / "adt_a47_ins_removal.hl7").read_bytes())
    (patient,) = resources(a47, "Patient")
    assert all("1.2.250.1.213.1.4" not in i["system"] for i in patient["identifier"])
    a40 = adt.apply((REPO / "samples" / "hl7v2" / "adt_a40_merge.hl7").read_bytes())
    survivor, merged = resources(a40, "Patient")
    urls = [e["fullUrl"] for e in a40["entry"]]
    assert survivor["link"] == [{"other": {"reference": urls[1]}, "type": "replaces"}]
    assert merged["link"] == [{"other": {"reference": urls[0]}, "type": "replaced-by"}]
    assert merged["active"] is False and merged["identifier"][0]["use"] == "old"


def test_oru_and_notification_outputs_are_valid() -> None:
    oru = compile_map(MAPPINGS / "oru_to_fr_core.yaml")
    bundle = oru.apply((INPUTS / "oru_r01_lab_results.hl7").read_bytes())
    assert fhir_problems(bundle) == []
    assert [len(resources(bundle, k)) for k in ("DiagnosticReport", "Observation")] == [2, 5]
    notification = compile_map(MAPPINGS / "pam_fr_adt_to_notification.yaml")
    for sample in ("adt_a01_admission", "adt_a04_outpatient", "adt_a03_discharge"):
        out = notification.apply((REPO / "samples" / "hl7v2" / f"{sample}.hl7").read_bytes())
        assert fhir_problems(out) == []
        (entry,) = out["entry"]
        assert entry["request"]["method"] == "POST" and "ifNoneExist" in entry["request"]
