"""FR Core profile claimed by a Patient, decided on the merged resource.

``fr-core-patient-ins`` is claimed only when every INS trait is there (FR Core 2.2
``fr-core-patient-ins``: an INS identifier, the official name with family, given and the
birth list of given names, gender, birth date and birth place); otherwise the Patient
claims ``fr-core-patient``. The decision is made after merging, because a message that
does not carry a trait (an A02 without PID-11) does not remove it from the platform.
"""

from __future__ import annotations

from engine.formats.fhir.events import Resource

FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition"
PATIENT = f"{FR_CORE}/fr-core-patient"
PATIENT_INS = f"{FR_CORE}/fr-core-patient-ins"
BIRTH_LIST = f"{FR_CORE}/fr-core-patient-birth-list-given-name"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
INS_SYSTEMS = frozenset(f"urn:oid:1.2.250.1.213.1.4.{n}" for n in (8, 9, 10, 11))


def missing_ins_traits(patient: Resource) -> list[str]:
    """The INS traits the Patient lacks (element names; empty: it may claim the INS profile)."""
    missing: list[str] = []
    if not any(
        i.get("system") in INS_SYSTEMS and i.get("value") for i in patient.get("identifier") or []
    ):
        missing.append("identifier:INS")
    official = [n for n in patient.get("name") or [] if n.get("use") == "official"]
    if not any(n.get("family") and n.get("given") for n in official):
        missing.append("name:official")
    elif not any(
        e.get("url") == BIRTH_LIST and e.get("valueString")
        for n in official
        for e in n.get("extension") or []
    ):
        missing.append("name:official.birth-list-given-name")
    for element in ("gender", "birthDate"):
        if not patient.get(element):
            missing.append(element)
    if not any(e.get("url") == BIRTH_PLACE for e in patient.get("extension") or []):
        missing.append("birthPlace")
    return missing


def claim_profile(patient: Resource) -> Resource:
    """The Patient with ``meta.profile`` set to the FR Core profile it satisfies."""
    chosen = PATIENT if missing_ins_traits(patient) else PATIENT_INS
    meta = dict(patient.get("meta") or {})
    others = [p for p in meta.get("profile") or [] if p not in (PATIENT, PATIENT_INS)]
    meta["profile"] = [chosen, *others]
    return {**patient, "meta": meta}


__all__ = ["PATIENT", "PATIENT_INS", "claim_profile", "missing_ins_traits"]
