"""Hand-built FR Core transaction Bundles for tests, and a test-only ADT → Bundle transform.

This is not a map of the project (maps live in mappings/): it is the smallest transform
that turns a PAM-FR ADT into an idempotent FR Core transaction (conditional updates on the
IPP and on the movement identifier), so delivery tests have realistic FHIR payloads.
``adt_bundle_unformatted_dates`` is the same transform with a bug (PID-7 copied as is),
which the platform refuses as an invalid ``Patient.birthDate``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from engine.components import Payload
from engine.formats.hl7v2 import parse
from engine.message import Envelope

IPP_SYSTEM = "urn:oid:1.2.250.1.71.4.2.7.999999999"
MOVEMENT_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2.999999999"
FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition"
STATUS = {"A01": "in-progress", "A02": "in-progress", "A03": "finished", "A04": "in-progress"}


def adt(control_id: str, ipp: str, event: str = "A01", birth: str = "") -> bytes:
    """A PAM-FR ADT message for patient ``ipp`` (PID-3 typed PI, optional PID-7)."""
    return (
        f"MSH|^~\\&|GAM|CHU-EXEMPLE|PASSERELLE|GRADES|20261120093012||ADT^{event}^ADT_A01|"
        f"{control_id}|P|2.5^FRA^2.11|||||FRA|UNICODE UTF-8\r"
        f"EVN||20261120093012\rPID|1||{ipp}^^^CHU-EXEMPLE&{IPP_SYSTEM[8:]}&ISO^PI||"
        f"NOM^PRENOM||{birth}|F\rPV1|1|I\r"
    ).encode()


def patient_key(ipp: str) -> str:
    """The platform's patient key (``FhirPlatform.arrivals``) of an IPP."""
    return f"{IPP_SYSTEM}|{ipp}"


def transaction(ipp: str, movement: str, event: str = "A01", birth_date: str = "") -> Any:
    """Patient (conditional update on the IPP) + Encounter (on the movement id)."""
    patient_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, patient_key(ipp))}"
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "meta": {"profile": [f"{FR_CORE}/fr-core-patient"]},
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI"}
                    ]
                },
                "system": IPP_SYSTEM,
                "value": ipp,
            }
        ],
    }
    if birth_date:
        patient["birthDate"] = birth_date
    encounter = {
        "resourceType": "Encounter",
        "meta": {"profile": [f"{FR_CORE}/fr-core-encounter"]},
        "identifier": [{"system": MOVEMENT_SYSTEM, "value": movement}],
        "status": STATUS.get(event, "in-progress"),
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "IMP",
        },
        "subject": {"reference": patient_url},
    }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient_url,
                "resource": patient,
                "request": {"method": "PUT", "url": f"Patient?identifier={IPP_SYSTEM}|{ipp}"},
            },
            {
                "resource": encounter,
                "request": {
                    "method": "PUT",
                    "url": f"Encounter?identifier={MOVEMENT_SYSTEM}|{movement}",
                },
            },
        ],
    }


def payload(bundle: Any) -> Payload:
    return Payload(json.dumps(bundle).encode(), "application/fhir+json", {})


def _bundle(envelope: Envelope, *, format_dates: bool) -> Payload:
    message = parse(envelope.raw)
    birth = message.get("PID-7.1")
    if birth and format_dates:
        birth = f"{birth[:4]}-{birth[4:6]}-{birth[6:8]}"
    ipp = message.get("PID-3[1].1")
    bundle = transaction(ipp, message.get("MSH-10"), message.get("MSH-9.2"), birth)
    return payload(bundle)


def adt_bundle(envelope: Envelope) -> Payload:
    """Test transform: ADT → FR Core transaction Bundle."""
    return _bundle(envelope, format_dates=True)


def adt_bundle_unformatted_dates(envelope: Envelope) -> Payload:
    """The same transform with a bug: PID-7 is copied without reformatting."""
    return _bundle(envelope, format_dates=False)


__all__ = [
    "IPP_SYSTEM",
    "MOVEMENT_SYSTEM",
    "adt",
    "adt_bundle",
    "adt_bundle_unformatted_dates",
    "patient_key",
    "payload",
    "transaction",
]
