"""ebRIM 3.0 serialisation of a :class:`Submission` as an ITI-41
``xdsb:ProvideAndRegisterDocumentSetRequest`` (IHE ITI TF-2b §3.41, TF-3 §4.2.3).

Element order follows ``rim.xsd`` (Slot, Name, Description, Classification,
ExternalIdentifier). Documents go in ``xdsb:Document`` either as ``xop:Include`` references
(MTOM: :func:`provide_and_register` returns the attachments) or inline Base64.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from lxml import etree

from engine.formats.xds import constants as c
from engine.formats.xds.model import (
    Author,
    CodedValue,
    DocumentEntry,
    Submission,
    SubmissionSet,
    derived_uuid,
)

_E = etree._Element


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _slot(parent: _E, name: str, values: Iterable[str]) -> None:
    values = [v for v in values if v]
    if not values:
        return
    slot = etree.SubElement(parent, _q(c.RIM, "Slot"), name=name)
    value_list = etree.SubElement(slot, _q(c.RIM, "ValueList"))
    for value in values:
        etree.SubElement(value_list, _q(c.RIM, "Value")).text = value


def _name(parent: _E, text: str, tag: str = "Name") -> None:
    if not text:
        return
    name = etree.SubElement(parent, _q(c.RIM, tag))
    string = etree.SubElement(name, _q(c.RIM, "LocalizedString"), value=text)
    string.set(_q(c.XML_NS, "lang"), "fr-FR")
    string.set("charset", "UTF-8")


def _classification(parent: _E, scheme: str, owner: str, value: CodedValue, n: int) -> None:
    node = etree.SubElement(
        parent,
        _q(c.RIM, "Classification"),
        classificationScheme=scheme,
        classifiedObject=owner,
        nodeRepresentation=value.code,
        id=derived_uuid("classification", owner, scheme, str(n)),
        objectType=c.OT_CLASSIFICATION,
    )
    _slot(node, "codingScheme", [value.scheme])
    _name(node, value.display)


def _author(parent: _E, scheme: str, owner: str, author: Author, n: int) -> None:
    node = etree.SubElement(
        parent,
        _q(c.RIM, "Classification"),
        classificationScheme=scheme,
        classifiedObject=owner,
        nodeRepresentation="",
        id=derived_uuid("author", owner, str(n)),
        objectType=c.OT_CLASSIFICATION,
    )
    _slot(node, "authorPerson", [author.person])
    _slot(node, "authorInstitution", author.institutions)
    _slot(node, "authorRole", author.roles)
    _slot(node, "authorSpecialty", author.specialties)


def _external_id(parent: _E, scheme: str, owner: str, value: str, label: str) -> None:
    node = etree.SubElement(
        parent,
        _q(c.RIM, "ExternalIdentifier"),
        identificationScheme=scheme,
        value=value,
        id=derived_uuid("external", owner, scheme),
        objectType=c.OT_EXTERNAL_ID,
        registryObject=owner,
    )
    _name(node, label)


def _entry(parent: _E, e: DocumentEntry) -> None:
    node = etree.SubElement(
        parent,
        _q(c.RIM, "ExtrinsicObject"),
        id=e.entry_uuid,
        mimeType=e.mime_type,
        objectType=c.DOCUMENT_ENTRY_STABLE,
        status=c.APPROVED,
    )
    _slot(node, "creationTime", [e.creation_time])
    _slot(node, "hash", [e.hash])
    _slot(node, "languageCode", [e.language])
    _slot(node, "legalAuthenticator", [e.legal_authenticator])
    _slot(node, "serviceStartTime", [e.service_start_time])
    _slot(node, "serviceStopTime", [e.service_stop_time])
    _slot(node, "size", [str(e.size)])
    _slot(node, "sourcePatientId", [e.source_patient_id])
    _slot(node, "sourcePatientInfo", e.source_patient_info)
    _name(node, e.title)
    for n, author in enumerate(e.authors):
        _author(node, c.DE_AUTHOR, e.entry_uuid, author, n)
    codes = [
        (c.DE_CLASS, e.class_code),
        *((c.DE_CONFIDENTIALITY, code) for code in e.confidentiality),
        *((c.DE_EVENT, code) for code in e.event_codes),
        (c.DE_FORMAT, e.format_code),
        (c.DE_FACILITY, e.healthcare_facility_type),
        (c.DE_PRACTICE, e.practice_setting),
        (c.DE_TYPE, e.type_code),
    ]
    for n, (scheme, code) in enumerate(codes):
        _classification(node, scheme, e.entry_uuid, code, n)
    _external_id(node, c.DE_PATIENT_ID, e.entry_uuid, e.patient_id, "XDSDocumentEntry.patientId")
    _external_id(node, c.DE_UNIQUE_ID, e.entry_uuid, e.unique_id, "XDSDocumentEntry.uniqueId")


def submission_set_element(parent: _E, s: SubmissionSet) -> None:
    """Append the RegistryPackage of ``s`` and its SubmissionSet classification to ``parent``."""
    node = etree.SubElement(
        parent,
        _q(c.RIM, "RegistryPackage"),
        id=s.entry_uuid,
        objectType=c.OT_REGISTRY_PACKAGE,
        status=c.APPROVED,
    )
    _slot(node, "submissionTime", [s.submission_time])
    _name(node, s.title)
    for n, author in enumerate(s.authors):
        _author(node, c.SS_AUTHOR, s.entry_uuid, author, n)
    _classification(node, c.SS_CONTENT_TYPE, s.entry_uuid, s.content_type, 0)
    _external_id(node, c.SS_UNIQUE_ID, s.entry_uuid, s.unique_id, "XDSSubmissionSet.uniqueId")
    _external_id(node, c.SS_SOURCE_ID, s.entry_uuid, s.source_id, "XDSSubmissionSet.sourceId")
    _external_id(node, c.SS_PATIENT_ID, s.entry_uuid, s.patient_id, "XDSSubmissionSet.patientId")
    etree.SubElement(
        parent,
        _q(c.RIM, "Classification"),
        classifiedObject=s.entry_uuid,
        classificationNode=c.SUBMISSION_SET_NODE,
        id=derived_uuid("submissionset-node", s.entry_uuid),
        objectType=c.OT_CLASSIFICATION,
    )


def content_id(entry_uuid: str) -> str:
    """The MIME Content-ID (without brackets) of a document attachment."""
    return f"{entry_uuid.removeprefix('urn:uuid:')}@passerelle"


def provide_and_register(
    submission: Submission, *, xop: bool = True
) -> tuple[_E, dict[str, bytes]]:
    """The request element and its attachments (Content-ID → bytes; empty when inline)."""
    root = etree.Element(_q(c.XDSB, "ProvideAndRegisterDocumentSetRequest"), nsmap=c.NSMAP)
    request = etree.SubElement(root, _q(c.LCM, "SubmitObjectsRequest"))
    objects = etree.SubElement(request, _q(c.RIM, "RegistryObjectList"))
    for entry in submission.entries:
        _entry(objects, entry)
    submission_set_element(objects, submission.submission_set)
    for a in submission.associations:
        node = etree.SubElement(
            objects,
            _q(c.RIM, "Association"),
            associationType=a.type,
            sourceObject=a.source,
            targetObject=a.target,
            id=a.id,
            objectType=c.OT_ASSOCIATION,
        )
        _slot(node, "SubmissionSetStatus", [a.submission_set_status])
    attachments: dict[str, bytes] = {}
    for entry in submission.entries:
        content = submission.documents[entry.entry_uuid]
        document = etree.SubElement(root, _q(c.XDSB, "Document"), id=entry.entry_uuid)
        if xop:
            cid = content_id(entry.entry_uuid)
            include = etree.SubElement(document, _q(c.XOP, "Include"), nsmap={"xop": c.XOP})
            include.set("href", f"cid:{cid}")
            attachments[cid] = content
        else:
            document.text = base64.b64encode(content).decode("ascii")
    return root, attachments


__all__ = ["content_id", "provide_and_register", "submission_set_element"]
