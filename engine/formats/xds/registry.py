"""Registry transactions of the DMP beyond ITI-41 (ebRIM 3.0 bodies, no transport):

* ITI-18 Registry Stored Query ``GetDocuments`` by uniqueId (DMP TD3.1): the registry's
  entryUUID, logicalId, version, status and full metadata of a document -- needed to replace
  (RPLC) or update a document that Passerelle did not publish itself.
* ITI-57 Update Document Set (DMP TD3.3): availability status changes (deletion
  ``urn:asip:ci-sis:2010:StatusType:Deleted``, archiving ``…:Archived``, back to Approved)
  through an ``UpdateAvailabilityStatus`` association, and metadata updates (masking and
  visibility codes) as a new version of the DocumentEntry (same logicalId,
  ``PreviousVersion``).

Each update carries its own SubmissionSet (:class:`SubmissionSet`), as ITI-57 requires.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from engine.errors import DocumentError
from engine.formats.xds import constants as c
from engine.formats.xds.ebrim import submission_set_element
from engine.formats.xds.model import CodedValue, SubmissionSet, derived_uuid
from engine.formats.xds.response import RegistryError, RegistryResult, parse_registry_response

QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
ITI18_ACTION = "urn:ihe:iti:2007:RegistryStoredQuery"
ITI18_RESPONSE_ACTION = "urn:ihe:iti:2007:RegistryStoredQueryResponse"
ITI57_ACTION = "urn:ihe:iti:2010:UpdateDocumentSet"
ITI57_RESPONSE_ACTION = "urn:ihe:iti:2010:UpdateDocumentSetResponse"
UPDATE_STATUS = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"
ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
APPROVED = c.APPROVED
R = f"{{{c.RIM}}}"


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """A DocumentEntry as the registry holds it (``element``: its ExtrinsicObject)."""

    entry_uuid: str
    logical_id: str
    version: str
    status: str
    unique_id: str
    patient_id: str
    element: etree._Element


def get_documents(unique_ids: Sequence[str]) -> etree._Element:
    """An ITI-18 ``AdhocQueryRequest`` GetDocuments for ``unique_ids`` (LeafClass)."""
    root = etree.Element(f"{{{QUERY}}}AdhocQueryRequest", nsmap={"query": QUERY, "rim": c.RIM})
    etree.SubElement(
        root, f"{{{QUERY}}}ResponseOption", returnComposedObjects="true", returnType="LeafClass"
    )
    query = etree.SubElement(root, f"{R}AdhocQuery", id=GET_DOCUMENTS)
    slot = etree.SubElement(query, f"{R}Slot", name="$XDSDocumentEntryUniqueId")
    quoted = ",".join("'" + u.replace("'", "''") + "'" for u in unique_ids)
    etree.SubElement(etree.SubElement(slot, f"{R}ValueList"), f"{R}Value").text = f"({quoted})"
    return root


def read_entry(node: etree._Element) -> RegistryEntry:
    """A :class:`RegistryEntry` from an ExtrinsicObject of a query response."""
    ids = {
        e.get("identificationScheme", ""): e.get("value", "")
        for e in node.findall(f"{R}ExternalIdentifier")
    }
    version = node.find(f"{R}VersionInfo")
    entry_uuid = node.get("id", "")
    return RegistryEntry(
        entry_uuid=entry_uuid,
        logical_id=node.get("lid") or entry_uuid,
        version=version.get("versionName", "1") if version is not None else "1",
        status=node.get("status", ""),
        unique_id=ids.get(c.DE_UNIQUE_ID, ""),
        patient_id=ids.get(c.DE_PATIENT_ID, ""),
        element=node,
    )


def parse_query_response(element: etree._Element) -> tuple[RegistryResult, list[RegistryEntry]]:
    """The status, errors and DocumentEntries of a ``query:AdhocQueryResponse``.

    Raises:
        DocumentError: not a query response, or an unknown status.
    """
    tag = f"{{{QUERY}}}AdhocQueryResponse"
    node = element if element.tag == tag else element.find(f".//{tag}")
    if node is None:
        raise DocumentError("the answer holds no query:AdhocQueryResponse", kind="invalid")
    shell = etree.Element(f"{{{c.RS}}}RegistryResponse", status=node.get("status", ""))
    for child in node.findall(f"{{{c.RS}}}RegistryErrorList"):
        shell.append(copy.deepcopy(child))
    result = parse_registry_response(shell)
    entries = [read_entry(e) for e in node.iter(f"{R}ExtrinsicObject")]
    return result, entries


def query_response(
    entries: Sequence[etree._Element], errors: Sequence[RegistryError] = ()
) -> etree._Element:
    """An ``AdhocQueryResponse`` holding copies of ``entries`` (used by the test DMP)."""
    status = c.STATUS_FAILURE if errors else c.STATUS_SUCCESS
    root = etree.Element(
        f"{{{QUERY}}}AdhocQueryResponse",
        nsmap={"query": QUERY, "rim": c.RIM, "rs": c.RS},
        status=status,
    )
    if errors:
        from engine.formats.xds.response import registry_response

        root.append(registry_response("Failure", errors)[0])
    found = etree.SubElement(root, f"{R}RegistryObjectList")
    for entry in entries:
        found.append(copy.deepcopy(entry))
    return root


def _request(submission_set: SubmissionSet) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(f"{{{c.LCM}}}SubmitObjectsRequest", nsmap=c.NSMAP)
    objects = etree.SubElement(root, f"{R}RegistryObjectList")
    submission_set_element(objects, submission_set)
    return root, objects


def _slot(parent: etree._Element, name: str, value: str) -> None:
    slot = etree.SubElement(parent, f"{R}Slot", name=name)
    etree.SubElement(etree.SubElement(slot, f"{R}ValueList"), f"{R}Value").text = value


def update_status(
    submission_set: SubmissionSet, entry: RegistryEntry, new_status: str
) -> etree._Element:
    """An ITI-57 request moving ``entry`` from its status to ``new_status``."""
    root, objects = _request(submission_set)
    association = etree.SubElement(
        objects,
        f"{R}Association",
        associationType=UPDATE_STATUS,
        sourceObject=submission_set.entry_uuid,
        targetObject=entry.entry_uuid,
        id=derived_uuid("status", submission_set.entry_uuid, entry.entry_uuid),
        objectType=c.OT_ASSOCIATION,
    )
    _slot(association, "OriginalStatus", entry.status)
    _slot(association, "NewStatus", new_status)
    return root


def update_confidentiality(
    submission_set: SubmissionSet, entry: RegistryEntry, codes: Sequence[CodedValue]
) -> etree._Element:
    """An ITI-57 request: a new version of ``entry`` whose confidentialityCodes are
    ``codes`` (every other metadata unchanged), replacing version ``entry.version``."""
    root, objects = _request(submission_set)
    new_id = derived_uuid("version", entry.logical_id, entry.version, submission_set.unique_id)
    node = copy.deepcopy(entry.element)
    node.set("id", new_id)
    node.set("lid", entry.logical_id)
    for name in ("status", "home"):
        if name in node.attrib:
            del node.attrib[name]
    for child in list(node):
        scheme = child.get("classificationScheme")
        if child.tag == f"{R}VersionInfo" or scheme == c.DE_CONFIDENTIALITY:
            node.remove(child)
    anchor = next(
        (i for i, ch in enumerate(node) if ch.tag in (f"{R}ExternalIdentifier",)), len(node)
    )
    for n, code in enumerate(codes):
        cl = etree.Element(
            f"{R}Classification",
            classificationScheme=c.DE_CONFIDENTIALITY,
            nodeRepresentation=code.code,
            objectType=c.OT_CLASSIFICATION,
        )
        _slot(cl, "codingScheme", code.scheme)
        node.insert(anchor + n, cl)
    for n, child in enumerate(node.iter(f"{R}Classification", f"{R}ExternalIdentifier")):
        child.set("id", derived_uuid("child", new_id, str(n)))
        child.set(
            "classifiedObject" if child.tag.endswith("Classification") else "registryObject", new_id
        )
    objects.insert(0, node)
    association = etree.SubElement(
        objects,
        f"{R}Association",
        associationType=c.HAS_MEMBER,
        sourceObject=submission_set.entry_uuid,
        targetObject=new_id,
        id=derived_uuid("hasmember", submission_set.entry_uuid, new_id),
        objectType=c.OT_ASSOCIATION,
    )
    _slot(association, "SubmissionSetStatus", "Original")
    _slot(association, "PreviousVersion", entry.version)
    return root


__all__ = [
    "APPROVED",
    "ARCHIVED",
    "DELETED",
    "DEPRECATED",
    "GET_DOCUMENTS",
    "ITI18_ACTION",
    "ITI18_RESPONSE_ACTION",
    "ITI57_ACTION",
    "ITI57_RESPONSE_ACTION",
    "QUERY",
    "UPDATE_STATUS",
    "RegistryEntry",
    "get_documents",
    "parse_query_response",
    "query_response",
    "read_entry",
    "update_confidentiality",
    "update_status",
]
