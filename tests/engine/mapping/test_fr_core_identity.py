"""pam_fr_adt_to_fr_core, identity rules of issue 11: the INS profile only with every INS
trait, INS-NIA official, the used-given-name-only form, gender within FR Core's value set,
no empty birth-list extension, the identity status of a message without PID-32, distinct
conditional URLs for a stay and a movement that share a number."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.formats.fhir.events import DEFAULT, DELETE, ROLE, marker
from engine.mapping import CompiledMap, compile_map
from tests.support.adt_messages import ELODIE, Person, adt
from tests.support.corpus import REPO

PATIENT = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient"
BIRTH_LIST = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name"


@pytest.fixture(scope="module")
def adt_map() -> CompiledMap:
    return compile_map(REPO / "mappings" / "pam_fr_adt_to_fr_core.yaml")


def bundle(adt_map: CompiledMap, raw: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(adt_map.dumps(adt_map.apply(raw)))
    return result


def patient_of(result: dict[str, Any]) -> dict[str, Any]:
    patient: dict[str, Any] = result["entry"][0]["resource"]
    return patient


def a01(person: Person = ELODIE, **kw: Any) -> bytes:
    return adt("A01", 1, at="202611200930", movement="M1", person=person, **kw)


def test_every_ins_trait_present_claims_the_ins_profile(adt_map: CompiledMap) -> None:
    patient = patient_of(bundle(adt_map, a01()))
    assert patient["meta"]["profile"] == [f"{PATIENT}-ins"]


@pytest.mark.parametrize(
    "person",
    [
        Person("1", "285074410912393", "LEGRAND^Élodie^^^Mme^^L", "19850712", "F"),  # no XPN-3
        Person("1", "285074410912393", "LEGRAND^Élodie^Élodie^^Mme^^L", "19850712", "F", ""),
        Person("1", "285074410912393", "MOREAU^Élodie^^^^^D", "19850712", "F"),  # no birth name
        Person("1", "285074410912393", "LEGRAND^Élodie^Élodie^^^^L", "", "F"),  # no birth date
    ],
    ids=["no-birth-list", "no-birth-place", "no-official-name", "no-birth-date"],
)
def test_a_missing_ins_trait_claims_fr_core_patient(adt_map: CompiledMap, person: Person) -> None:
    patient = patient_of(bundle(adt_map, a01(person)))
    assert patient["meta"]["profile"] == [PATIENT]
    # the INS itself is still sent: the platform may hold the other traits
    assert any(i["system"].endswith("1.4.10") for i in patient["identifier"])


def test_no_birth_list_extension_without_a_value(adt_map: CompiledMap) -> None:
    person = Person("1", "285074410912393", "LEGRAND^Élodie^^^Mme^^L", "19850712", "F")
    (official,) = patient_of(bundle(adt_map, a01(person)))["name"]
    assert "extension" not in official
    assert all(
        e.get("url") != BIRTH_LIST or e.get("valueString") for e in official.get("extension", [])
    )


def test_the_used_given_name_only_form_is_kept(adt_map: CompiledMap) -> None:
    person = Person(
        "1",
        "285074410912393",
        "^MARIE-CECILE^^^^^D~LEGRAND^Marie^Marie Cécile^^^^L",
        "19850712",
        "F",
    )
    names = patient_of(bundle(adt_map, a01(person)))["name"]
    assert {"use": "usual", "given": ["MARIE-CECILE"]} in names


@pytest.mark.parametrize(
    ("pid8", "gender"), [("F", "female"), ("M", "male"), ("U", "unknown"), ("O", "unknown")]
)
def test_gender_stays_within_fr_core_patient_gender(
    adt_map: CompiledMap, pid8: str, gender: str
) -> None:
    person = Person("1", "285074410912393", ELODIE.names, "19850712", pid8)
    assert patient_of(bundle(adt_map, a01(person)))["gender"] == gender


def test_an_ins_nia_is_official(adt_map: CompiledMap) -> None:
    raw = a01().replace(b"1.2.250.1.213.1.4.10", b"1.2.250.1.213.1.4.9")
    (nia,) = [
        i for i in patient_of(bundle(adt_map, raw))["identifier"] if i["system"].endswith(".9")
    ]
    assert (nia["use"], nia["type"]["coding"][0]["code"]) == ("official", "INS-NIA")


def test_without_pid32_the_identity_status_is_only_a_default(adt_map: CompiledMap) -> None:
    result = bundle(adt_map, a01(pid32=""))
    request = result["entry"][0]["request"]
    assert marker(request, ROLE) == ["patient"]
    assert marker(request, DEFAULT) == [
        "extension:https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
    ]
    assert marker(bundle(adt_map, a01())["entry"][0]["request"], DEFAULT) == []


def test_a_stay_and_a_movement_with_the_same_number_have_distinct_urls(
    adt_map: CompiledMap,
) -> None:
    raw = adt("A01", 1, at="202611200930", movement=f"{ELODIE.ipp}-V1")
    result = bundle(adt_map, raw)
    urls = [e["request"]["url"] for e in result["entry"]]
    assert len(urls) == 3 and len(set(urls)) == 3


def test_a31_with_a_pv1_carries_no_encounter(adt_map: CompiledMap) -> None:
    result = bundle(adt_map, adt("A31", 1, at="202611250900", movement="M9"))
    assert [e["resource"]["resourceType"] for e in result["entry"]] == ["Patient"]


def test_hl7_deletes_become_delete_markers(adt_map: CompiledMap) -> None:
    raw = adt("A31", 1, at="202611250900", pv1=False)
    raw = raw.replace(b"||19850712|F|", b'||""|F|')
    raw = raw.replace(b"|12 rue des Lilas^^Nantes^^44000^FRA^H~^^^^^FRA^BDL^^44109|", b'|""|')
    result = bundle(adt_map, raw)
    assert marker(result["entry"][0]["request"], DELETE) == ["birthDate", "address"]
    patient = patient_of(result)
    assert "birthDate" not in patient and "address" not in patient
    # an empty field is not a delete
    plain = bundle(adt_map, adt("A31", 1, at="202611250900", pv1=False).replace(b"19850712", b""))
    assert marker(plain["entry"][0]["request"], DELETE) == []
