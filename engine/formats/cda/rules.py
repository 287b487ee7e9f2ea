"""French header rules that matter for sharing (CI-SIS "Structuration minimale", INS).

Written from the CI-SIS header specification (see docs/cda.md for the list), not from the
schematrons. :func:`check_header` returns every finding at once; each has a stable rule
id, a severity and a patient-free message. ``error`` means the document breaks a MUST of
the specification; ``warning`` a SHOULD or a consistency doubt (e.g. an invalid NIR key
under a test OID).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from engine.formats.cda.ins import INS_NIA, INS_NIR
from engine.formats.cda.model import CdaHeader, Level

Severity = Literal["error", "warning"]

HL7_FRANCE = "2.16.840.1.113883.2.8.2.1"
CI_SIS_HEADER = "1.2.250.1.213.1.1.1.1"
XDS_SD = "1.3.6.1.4.1.19376.1.2.20"
TYPE_ID = ("2.16.840.1.113883.1.3", "POCD_HD000040")
STRICT_KEY_OIDS = frozenset({INS_NIR, INS_NIA})
"""OIDs whose NIR key must be right (errors); under test/demo OIDs a bad key is a warning."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One broken rule: ``rule`` id (``FR-HDR-…``/``FR-INS-…``), severity, message."""

    rule: str
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.rule} ({self.severity}): {self.message}"


def _required(h: CdaHeader) -> Iterator[Finding]:
    present = {
        "id": h.id is not None,
        "code": h.code is not None,
        "title": bool(h.title),
        "effectiveTime": bool(h.effective_time),
        "confidentialityCode": h.confidentiality is not None,
        "languageCode": bool(h.language),
        "setId": h.set_id is not None,
        "versionNumber": h.version_number is not None,
        "recordTarget/patientRole": h.patient is not None,
        "custodian/assignedCustodian": h.custodian is not None,
        "legalAuthenticator/assignedEntity": h.legal_authenticator is not None,
        "componentOf/encompassingEncounter": h.encounter is not None,
        "author/assignedAuthor": bool(h.authors),
        "documentationOf/serviceEvent": bool(h.service_events),
    }
    for element, ok in present.items():
        if not ok:
            yield Finding("FR-HDR-01", "error", f"mandatory element {element} is missing")
    if h.realm != "FR":
        yield Finding("FR-HDR-02", "error", "realmCode must be FR")
    if h.type_id is None or (h.type_id.root, h.type_id.extension) != TYPE_ID:
        yield Finding("FR-HDR-03", "error", "typeId must be 2.16.840.1.113883.1.3/POCD_HD000040")
    if h.legal_authenticator is not None and h.legal_signature_code != "S":
        yield Finding("FR-HDR-04", "error", "legalAuthenticator/signatureCode must be 'S'")
    if h.data_enterers > 1:
        yield Finding("FR-HDR-05", "error", "at most one dataEnterer is allowed")


def _templates(h: CdaHeader, level: Level | None) -> Iterator[Finding]:
    roots = [t.root for t in h.template_ids]
    for required, label in ((HL7_FRANCE, "HL7 France"), (CI_SIS_HEADER, "CI-SIS header")):
        if roots.count(required) != 1:
            yield Finding(
                "FR-HDR-10", "error", f"templateId {required} ({label}) must appear exactly once"
            )
    others = set(roots) - {HL7_FRANCE, CI_SIS_HEADER}
    if not others:
        yield Finding("FR-HDR-11", "error", "no templateId of a content model (volet)")
    if level is Level.UNSTRUCTURED and XDS_SD not in others:
        yield Finding(
            "FR-HDR-12", "error", f"a level-1 document must declare templateId {XDS_SD} (XDS-SD)"
        )
    if level is Level.UNSTRUCTURED and others - {XDS_SD}:
        yield Finding(
            "FR-HDR-13", "warning", "a level-1 document should carry no other model templateId"
        )


def _versions(h: CdaHeader) -> Iterator[Finding]:
    replacements = [d for kind, d in h.related_documents if kind == "RPLC"]
    if len(replacements) > 1:
        yield Finding("FR-HDR-20", "error", "at most one relatedDocument RPLC is allowed")
    version = h.version_number
    if h.replaces is not None and version is not None and version < 2:
        yield Finding(
            "FR-HDR-21", "warning", "relatedDocument RPLC on a document whose versionNumber is 1"
        )
    if h.replaces is None and version is not None and version > 1:
        yield Finding(
            "FR-HDR-22", "warning", f"versionNumber {version} without a relatedDocument RPLC"
        )
    if h.replaces is not None and h.id is not None and h.replaces == h.id:
        yield Finding("FR-HDR-23", "error", "the document declares that it replaces itself")


def _ins(h: CdaHeader) -> Iterator[Finding]:
    patient = h.patient
    if patient is None:
        return
    ins = patient.ins
    if ins is None:
        yield Finding("FR-INS-01", "warning", "recordTarget carries no INS (OID .8/.9/.10/.11)")
        return
    if not ins.well_formed:
        yield Finding("FR-INS-02", "error", f"the {ins.kind} is not 15 characters of a NIR")
    elif not ins.key_ok:
        severity: Severity = "error" if ins.oid in STRICT_KEY_OIDS else "warning"
        yield Finding("FR-INS-03", severity, f"the {ins.kind} has an invalid NIR key")
    traits = {
        "family[@qualifier='BR'] (birth name)": patient.name.birth_family,
        "given[@qualifier='BR'] (first given name)": patient.name.first_given,
        "given without qualifier (birth given names)": patient.name.given_list,
        "birthTime": patient.birth_time,
        "administrativeGenderCode": patient.gender,
        "birthplace/place/addr/county (INSEE code)": patient.birthplace_code,
    }
    for trait, value in traits.items():
        if not value:
            yield Finding("FR-INS-04", "error", f"INS trait {trait} is missing")


_CHECKS: tuple[Callable[[CdaHeader], Iterator[Finding]], ...] = (_required, _versions, _ins)


def check_header(header: CdaHeader, level: Level | None = None) -> list[Finding]:
    """Every finding on ``header`` (``level`` enables the level-1 template rules)."""
    findings = [f for check in _CHECKS for f in check(header)]
    findings.extend(_templates(header, level))
    return sorted(findings, key=lambda f: (f.severity != "error", f.rule))


def errors(findings: list[Finding]) -> list[Finding]:
    """Only the error findings."""
    return [f for f in findings if f.severity == "error"]


INS_TRAIT_RULE = "FR-INS-04"

__all__ = [
    "CI_SIS_HEADER",
    "HL7_FRANCE",
    "INS_TRAIT_RULE",
    "STRICT_KEY_OIDS",
    "XDS_SD",
    "Finding",
    "Severity",
    "check_header",
    "errors",
]
