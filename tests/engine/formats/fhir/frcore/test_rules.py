"""The FR Core checker, rule by rule: a good resource passes, a bad one fails naming the
element path and the rule (never a value)."""

from __future__ import annotations

import copy
import json
import tarfile
from typing import Any

import pytest

from engine.formats.fhir.frcore import FrCoreChecker, frcore_available
from engine.formats.fhir.frcore.elements import build_tree
from engine.formats.fhir.frcore.package import package_path
from engine.formats.fhir.frcore.walker import Walk

from .conftest import errors


def _examples(version: str) -> list[tuple[str, dict[str, Any]]]:
    path = package_path(version)
    if not path.is_file():
        return []
    with tarfile.open(path) as archive:
        return [
            (m.name.rsplit("/", 1)[-1], json.load(archive.extractfile(m)))  # type: ignore[arg-type]
            for m in archive.getmembers()
            if m.name.startswith("package/example/") and m.name.endswith(".json")
        ]


@pytest.mark.parametrize("version", ["2.2.0", "2.1.0"])
def test_every_example_of_the_ig_passes(version: str) -> None:
    if not frcore_available(version):
        pytest.skip("FR Core package absent")
    checker = FrCoreChecker(version)
    examples = _examples(version)
    assert len(examples) >= 10
    for name, resource in examples:
        assert checker.profiles_for(resource)[0], name  # each claims a profile we know
        assert errors(checker, resource) == [], name
    assert checker.unsupported_invariants == {}


def test_golden_a01_passes(checker: FrCoreChecker, a01: dict[str, Any]) -> None:
    assert errors(checker, a01) == []


def test_cardinality_min_and_max(checker: FrCoreChecker, a01: dict[str, Any]) -> None:
    venue = a01["entry"][1]["resource"]
    del venue["period"]
    patient = a01["entry"][0]["resource"]
    patient["name"][0]["given"] = ["JEANNE", "MARIE"]
    found = errors(checker, a01)
    assert (
        "Bundle.entry[1].resource.period: at least 1 required, found 0 "
        "[cardinality; fr-core-encounter]" in found
    )
    assert any(
        f.startswith("Bundle.entry[0].resource.name[0].given: at most 1 allowed, found 2")
        for f in found
    )


def test_pattern_of_a_slice(checker: FrCoreChecker, a01: dict[str, Any]) -> None:
    ins = a01["entry"][0]["resource"]["identifier"][1]
    assert ins["system"] == "urn:oid:1.2.250.1.213.1.4.10"
    ins["use"] = "usual"  # INS-NIR-TEST: patternCode official
    assert errors(checker, a01) == [
        # a VALI identity must carry its INS as the one official identifier
        "Bundle.entry[0].resource: invariant fr-core-1 does not hold "
        "[invariant fr-core-1; fr-core-patient-ins]",
        "Bundle.entry[0].resource: invariant fr-core-2 does not hold "
        "[invariant fr-core-2; fr-core-patient-ins]",
        "Bundle.entry[0].resource.identifier[1].use: does not match the patternCode of "
        "Patient.identifier:INS-NIR-TEST.use [pattern; fr-core-patient-ins]",
    ]


def test_fixed_value(checker: FrCoreChecker) -> None:
    bmi = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "39156-5"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-11-20T09:30:00+01:00",
        "valueQuantity": {
            "value": 22.5,
            "unit": "kg/m2",
            "system": "http://unitsofmeasure.org",
            "code": "kg/m2",
        },
    }
    assert [p.rsplit("/", 1)[-1] for p in checker.profiles_for(bmi)[0]] == [
        "fr-core-observation-bmi"
    ]
    assert errors(checker, bmi) == []
    bad = copy.deepcopy(bmi)
    bad["valueQuantity"]["system"] = "urn:x"
    found = errors(checker, bad)
    assert any(
        f.startswith("Observation.valueQuantity.system: must equal the fixedUri") for f in found
    )


def test_choice_type_not_allowed(checker: FrCoreChecker, a01: dict[str, Any]) -> None:
    venue = a01["entry"][1]["resource"]
    venue["extension"] = [
        {
            "url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-estimated-discharge-date",
            "valueString": "tomorrow",
        }
    ]
    found = errors(checker, a01)
    assert "Bundle.entry[1].resource.extension[0].valueString: type String is not allowed here" in (
        " ".join(found)
    )
    assert "tomorrow" not in " ".join(found)


def test_required_binding(checker: FrCoreChecker, a01: dict[str, Any]) -> None:
    a01["entry"][0]["resource"]["gender"] = "other"
    assert errors(checker, a01) == [
        "Bundle.entry[0].resource.gender: code not in the required value set "
        "fr-core-vs-patient-gender [binding; fr-core-patient-ins]"
    ]


def test_required_slice_missing(checker: FrCoreChecker, a01: dict[str, Any]) -> None:
    patient = a01["entry"][0]["resource"]
    patient["extension"] = [e for e in patient["extension"] if "birthPlace" not in e["url"]]
    assert errors(checker, a01) == [
        "Bundle.entry[0].resource.extension: slice birthPlace: at least 1 required, found 0 "
        "[slice; fr-core-patient-ins]"
    ]


def test_reference_target_type(checker: FrCoreChecker, a01: dict[str, Any]) -> None:
    a01["entry"][1]["resource"]["subject"] = {"reference": "Practitioner/123"}
    assert errors(checker, a01) == [
        "Bundle.entry[1].resource.subject: must reference Group, Patient, not Practitioner "
        "[reference; fr-core-encounter]"
    ]


def test_extension_checked_against_its_own_definition(
    checker: FrCoreChecker, a01: dict[str, Any]
) -> None:
    # Through the profile's slice, and reported once
    status = a01["entry"][0]["resource"]["extension"][0]["extension"][0]
    assert status["url"] == "identityStatus"
    status["valueString"] = status.pop("valueCoding")["code"]
    found = errors(checker, a01)
    assert found == [
        "Bundle.entry[0].resource.extension[0].extension[0].valueString: type String is not"
        " allowed here [type; fr-core-patient-ins]"
    ]
    # On a resource no FR Core profile covers: the extension's own definition applies
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"text": "x"},
        "extension": [
            {
                "url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-estimated-discharge-date",
                "valueString": "x",
            }
        ],
    }
    assert errors(checker, report) == [
        "DiagnosticReport.extension[0].valueString: type String is not allowed here"
        " [type; fr-core-estimated-discharge-date]"
    ]


def test_unknown_fr_core_extension_and_profile(checker: FrCoreChecker, a01: dict[str, Any]) -> None:
    venue = a01["entry"][1]["resource"]
    venue["meta"] = {"profile": ["https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-nope"]}
    venue["extension"] = [
        {
            "url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-use-period",
            "valueString": "x",
        }
    ]
    found = errors(checker, a01)
    assert "Bundle.entry[1].resource.meta.profile: fr-core-nope is not in FR Core 2.2.0" in found[0]
    assert any("fr-core-use-period is not an FR Core 2.2.0 extension" in f for f in found)


def test_invariants(checker: FrCoreChecker, a01: dict[str, Any]) -> None:
    patient = a01["entry"][0]["resource"]
    # fr-core-1: identityStatus VALI needs an official INS identifier
    patient["extension"][0]["extension"][0]["valueCoding"]["code"] = "VALI"
    patient["identifier"][1]["use"] = "old"
    found = errors(checker, a01)
    assert any("invariant fr-core-1 does not hold [invariant fr-core-1" in f for f in found)
    # ext-1: an extension has a value or extensions, not both / not neither
    patient["name"][0]["extension"][0].pop("valueString")
    found = errors(checker, a01)
    assert any(
        f.startswith("Bundle.entry[0].resource.name[0].extension[0]: invariant ext-1")
        for f in found
    )
    assert checker.unsupported_invariants == {}


def test_empty_element_is_ele_1(checker: FrCoreChecker, a01: dict[str, Any]) -> None:
    a01["entry"][0]["resource"]["birthDate"] = ""
    found = errors(checker, a01)
    assert "Bundle.entry[0].resource.birthDate: element has no value and no children" in (
        " ".join(found)
    )


def test_bundle_rules(checker: FrCoreChecker, a01: dict[str, Any]) -> None:
    a01["entry"].append(copy.deepcopy(a01["entry"][2]))
    a01["entry"][1]["resource"]["subject"] = {"reference": "urn:uuid:0000"}
    found = errors(checker, a01)
    assert "Bundle.entry[3].fullUrl: same fullUrl as entry 2 [bundle; Bundle]" in found
    assert "Bundle.entry[3].request.url: same request URL as entry 2 [bundle; Bundle]" in found
    assert (
        "Bundle.entry[1].resource.subject.reference: urn:uuid reference to no entry of the "
        "Bundle [bundle; Bundle]" in found
    )


def test_findings_never_quote_values(checker: FrCoreChecker, a01: dict[str, Any]) -> None:
    patient = a01["entry"][0]["resource"]
    patient["gender"] = "SECRET-GENDER"
    patient["identifier"][1]["use"] = "SECRET-USE"
    patient["name"][0]["given"] = ["SECRET-A", "SECRET-B"]
    text = " ".join(str(f) for f in checker.check(a01))
    assert text and "SECRET" not in text


def test_types_without_fr_core_profile_get_generic_checks(checker: FrCoreChecker) -> None:
    report = {"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "x"}}
    assert checker.profiles_for(report) == ([], [])
    assert errors(checker, report) == []
    report["conclusion"] = ""
    assert errors(checker, report) == [
        "DiagnosticReport.conclusion: element has no value and no children [invariant ele-1; FHIR]"
    ]


def test_closed_slicing_and_slice_maximum(checker: FrCoreChecker) -> None:
    """No emitted profile closes a slicing: a definition written for the test does."""
    definition = {
        "type": "Thing",
        "snapshot": {
            "element": [
                {"id": "Thing", "min": 0, "max": "*"},
                {
                    "id": "Thing.item",
                    "min": 0,
                    "max": "*",
                    "slicing": {
                        "discriminator": [{"type": "value", "path": "code"}],
                        "rules": "closed",
                    },
                },
                {"id": "Thing.item:a", "min": 1, "max": "1"},
                {"id": "Thing.item:a.code", "min": 1, "max": "1", "fixedCode": "A"},
            ]
        },
    }
    tree = build_tree(definition)
    thing = {"item": [{"code": "A"}, {"code": "B"}, {"code": "A"}]}
    walk = Walk(checker, "thing", thing, {})
    walk.element(thing, tree, "Thing", "Thing", "Thing")
    assert [str(f) for f in walk.findings] == [
        "Thing.item[1]: matches no slice of Thing.item (closed) [slicing; thing]",
        "Thing.item: slice a: at most 1 allowed, found 2 [slice; thing]",
    ]


def test_slicing_by_an_extension_value(checker: FrCoreChecker) -> None:
    """Patient.contact.relationship is sliced by ``extension('…category').value``."""
    category = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-contact-relationship-category"

    def relation(kind: str, code: str) -> dict[str, Any]:
        return {"extension": [{"url": category, "valueCode": kind}], "coding": [{"code": code}]}

    patient = {
        "resourceType": "Patient",
        "contact": [{"name": {"family": "X"}, "relationship": [relation("role", "C")]}],
    }
    assert errors(checker, patient) == []
    patient["contact"][0]["relationship"] += [
        relation("relationType", "MTH"),
        relation("role", "N"),
    ]
    assert errors(checker, patient) == [
        "Patient.contact[0].relationship: slice role: at most 1 allowed, found 2"
        " [slice; fr-core-patient]"
    ]


@pytest.mark.parametrize(
    ("reference", "kind"),
    [
        ("Patient/1", "Patient"),
        ("Patient?identifier=urn:oid:1.2.250|100234", "Patient"),
        ("Encounter?identifier=http://host/Patient/12|1", "Encounter"),
        ("https://fhir.example/fhir/Patient/3/_history/2", "Patient"),
        ("urn:uuid:0001", "Specimen"),
        ("urn:uuid:0002", None),
        ("#contained", None),
    ],
)
def test_reference_types(reference: str, kind: str | None) -> None:
    from engine.formats.fhir.frcore.walker import reference_type

    assert reference_type(reference, {"urn:uuid:0001": "Specimen"}) == kind


def test_required_bindings_to_fhir_core_code_systems(
    checker: FrCoreChecker, a01: dict[str, Any]
) -> None:
    a01["entry"][1]["resource"]["status"] = "ongoing"  # not an encounter-status code
    a01["entry"][0]["resource"]["identifier"][0]["use"] = "official"  # IPP: not official
    found = errors(checker, a01)
    assert (
        "Bundle.entry[1].resource.status: code not in the required value set encounter-status"
        " [binding; fr-core-encounter]" in found
    )
    assert (
        "Bundle.entry[0].resource.identifier[0].use: code not in the required value set"
        " fr-core-vs-patient-identifier-use-pi [binding; fr-core-patient-ins]" in found
    )
    assert checker.unchecked_bindings <= {
        "https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-insee-code",
        "http://hl7.org/fhir/ValueSet/ucum-bodyweight",
        "http://hl7.org/fhir/ValueSet/ucum-bodylength",
        "http://hl7.org/fhir/ValueSet/ucum-bodytemp",
    }
