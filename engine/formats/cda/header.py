"""Extraction of the CDA R2 header from a ``ClinicalDocument`` element.

Pure reading: nothing is validated here (see :mod:`engine.formats.cda.rules`), absent
elements give ``None``/empty values, and ``nullFlavor`` elements count as absent.
"""

from __future__ import annotations

from lxml import etree

from engine.formats.cda.ins import Ins
from engine.formats.cda.model import (
    NS,
    Actor,
    CdaHeader,
    Code,
    Encounter,
    Identifier,
    Organization,
    Patient,
    PatientName,
    PersonName,
    ServiceEvent,
)

_E = etree._Element


def _all(node: _E, path: str) -> list[_E]:
    found = node.xpath(path, namespaces=NS)
    assert isinstance(found, list)
    return [e for e in found if isinstance(e, etree._Element)]


def _one(node: _E | None, path: str) -> _E | None:
    if node is None:
        return None
    found = _all(node, path)
    return found[0] if found else None


def _text(node: _E | None, path: str = ".") -> str:
    element = _one(node, path) if node is not None else None
    if element is None:
        return ""
    return " ".join("".join(str(t) for t in element.itertext()).split())


def _attr(node: _E | None, path: str, name: str) -> str:
    element = _one(node, path)
    return (element.get(name) or "").strip() if element is not None else ""


def _identifier(element: _E | None) -> Identifier | None:
    if element is None or element.get("nullFlavor"):
        return None
    root = (element.get("root") or "").strip()
    if not root:
        return None
    return Identifier(root, (element.get("extension") or "").strip())


def _ids(node: _E | None, path: str = "h:id") -> tuple[Identifier, ...]:
    if node is None:
        return ()
    return tuple(i for i in map(_identifier, _all(node, path)) if i is not None)


def _code(element: _E | None) -> Code | None:
    if element is None or not element.get("code"):
        return None
    return Code(
        element.get("code", "").strip(),
        (element.get("codeSystem") or "").strip(),
        (element.get("displayName") or "").strip(),
    )


def _person_name(node: _E | None) -> PersonName | None:
    name = _one(node, "h:name")
    if name is None:
        return None
    return PersonName(
        family=_text(name, "h:family"),
        given=tuple(_text(g) for g in _all(name, "h:given") if _text(g)),
        prefix=_text(name, "h:prefix"),
        suffix=_text(name, "h:suffix"),
    )


def _organization(node: _E | None) -> Organization | None:
    if node is None:
        return None
    return Organization(
        ids=_ids(node),
        name=_text(node, "h:name"),
        industry_code=_code(_one(node, "h:standardIndustryClassCode")),
    )


def _actor(node: _E | None, time: str = "") -> Actor | None:
    if node is None:
        return None
    person = _one(node, "h:assignedPerson|h:associatedPerson")
    return Actor(
        ids=_ids(node),
        name=_person_name(person),
        code=_code(_one(node, "h:code")),
        organization=_organization(_one(node, "h:representedOrganization")),
        time=time,
        device=_text(node, "h:assignedAuthoringDevice/h:softwareName"),
    )


def _patient_name(patient: _E | None) -> PatientName:
    name = _one(patient, "h:name")
    if name is None:
        return PatientName()
    return PatientName(
        birth_family=_text(name, "h:family[@qualifier='BR']"),
        first_given=_text(name, "h:given[@qualifier='BR']"),
        given_list=_text(name, "h:given[not(@qualifier)]"),
        used_family=_text(name, "h:family[@qualifier='CL' or @qualifier='SP']"),
        used_given=_text(name, "h:given[@qualifier='CL']"),
    )


def _patient(doc: _E) -> Patient | None:
    role = _one(doc, "h:recordTarget/h:patientRole")
    if role is None:
        return None
    ids = _ids(role)
    ins = next((i for i in (Ins.of(x.extension, x.root) for x in ids if x.extension) if i), None)
    patient = _one(role, "h:patient")
    return Patient(
        ids=ids,
        ins=ins,
        name=_patient_name(patient),
        gender=_attr(patient, "h:administrativeGenderCode", "code"),
        birth_time=_attr(patient, "h:birthTime", "value"),
        birthplace_code=_text(patient, "h:birthplace/h:place/h:addr/h:county"),
    )


def _service_event(node: _E) -> ServiceEvent:
    setting = _one(
        node, "h:performer/h:assignedEntity/h:representedOrganization/h:standardIndustryClassCode"
    )
    return ServiceEvent(
        code=_code(_one(node, "h:code")),
        low=_attr(node, "h:effectiveTime/h:low", "value"),
        high=_attr(node, "h:effectiveTime/h:high", "value"),
        practice_setting=_code(setting),
    )


def _encounter(doc: _E) -> Encounter | None:
    node = _one(doc, "h:componentOf/h:encompassingEncounter")
    if node is None:
        return None
    return Encounter(
        ids=_ids(node),
        code=_code(_one(node, "h:code")),
        low=_attr(node, "h:effectiveTime/h:low", "value")
        or _attr(node, "h:effectiveTime", "value"),
        high=_attr(node, "h:effectiveTime/h:high", "value"),
        facility_type=_code(_one(node, "h:location/h:healthCareFacility/h:code")),
    )


def _version(doc: _E) -> int | None:
    value = _attr(doc, "h:versionNumber", "value")
    try:
        return int(value) if value else None
    except ValueError:
        return None


def read_header(doc: _E) -> CdaHeader:
    """Extract the header of a ``ClinicalDocument`` element (never raises on content)."""
    related = tuple(
        (rel.get("typeCode", ""), ident)
        for rel in _all(doc, "h:relatedDocument")
        for ident in _ids(rel, "h:parentDocument/h:id")
    )
    legal = _one(doc, "h:legalAuthenticator")
    authors = tuple(
        actor
        for author in _all(doc, "h:author")
        if (actor := _actor(_one(author, "h:assignedAuthor"), _attr(author, "h:time", "value")))
    )
    return CdaHeader(
        id=_identifier(_one(doc, "h:id")),
        set_id=_identifier(_one(doc, "h:setId")),
        version_number=_version(doc),
        code=_code(_one(doc, "h:code")),
        title=_text(doc, "h:title"),
        effective_time=_attr(doc, "h:effectiveTime", "value"),
        confidentiality=_code(_one(doc, "h:confidentialityCode")),
        language=_attr(doc, "h:languageCode", "code"),
        realm=_attr(doc, "h:realmCode", "code"),
        type_id=_identifier(_one(doc, "h:typeId")),
        template_ids=_ids(doc, "h:templateId"),
        patient=_patient(doc),
        authors=authors,
        custodian=_organization(
            _one(doc, "h:custodian/h:assignedCustodian/h:representedCustodianOrganization")
        ),
        legal_authenticator=_actor(
            _one(legal, "h:assignedEntity"), _attr(legal, "h:time", "value")
        ),
        legal_signature_code=_attr(legal, "h:signatureCode", "code"),
        encounter=_encounter(doc),
        service_events=tuple(
            _service_event(e) for e in _all(doc, "h:documentationOf/h:serviceEvent")
        ),
        replaces=next((ident for kind, ident in related if kind == "RPLC"), None),
        related_documents=related,
        data_enterers=len(_all(doc, "h:dataEnterer")),
    )


__all__ = ["read_header"]
