"""The registry of the test DMP: what ITI-41 registered (or a test preloaded as published by
another system), answered by ITI-18 GetDocuments and changed by ITI-57, with the rules a
real DMP applies:

* ITI-18: only the GetDocuments stored query by ``$XDSDocumentEntryUniqueId``; only the
  entries of the patient of the VIHF (``resource-id``) are returned.
* ITI-57 ``UpdateAvailabilityStatus``: the target must exist with the stated
  ``OriginalStatus``; ``NewStatus`` is Deleted, Archived or Approved (from Archived); only
  an author structure of the entry (VIHF ``Identifiant_Structure``) may change it.
* ITI-57 metadata update: a new version (same ``lid``, ``PreviousVersion`` = the current
  version, same uniqueId and patient), by an author structure; codes checked like ITI-41;
  the previous version becomes Deprecated.

Errors use the ITI-57 codes (XDSMetadataUpdateError, XDSMetadataVersionError,
XDSMetadataIdentifierError); their texts name ids and rules, never patient data.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from engine.formats.xds import constants as c
from engine.formats.xds import registry as r
from engine.formats.xds.response import RegistryError

R = f"{{{c.RIM}}}"
ALLOWED = {
    (c.APPROVED, r.DELETED),
    (c.APPROVED, r.ARCHIVED),
    (r.ARCHIVED, c.APPROVED),
    (r.ARCHIVED, r.DELETED),
}


class RegistryRefusal(Exception):
    """A request the registry refuses: one RegistryError."""

    def __init__(self, code: str, context: str, location: str = "") -> None:
        super().__init__(context)
        self.error = RegistryError(code, context, location)


@dataclass
class Stored:
    """One registered version of a DocumentEntry."""

    element: etree._Element
    status: str
    version: int
    structures: frozenset[str]

    @property
    def entry(self) -> r.RegistryEntry:
        node = copy.deepcopy(self.element)
        node.set("status", self.status)
        for old in node.findall(f"{R}VersionInfo"):
            node.remove(old)
        info = etree.Element(f"{R}VersionInfo", versionName=str(self.version))
        after = [
            i for i, ch in enumerate(node) if ch.tag in (f"{R}Slot", f"{R}Name", f"{R}Description")
        ]
        node.insert(after[-1] + 1 if after else 0, info)
        return r.read_entry(node)


def _values(node: etree._Element, path: str) -> list[str]:
    found = node.xpath(path, namespaces={"r": c.RIM})
    return [str(v) for v in found] if isinstance(found, list) else []


def structures_of(node: etree._Element) -> frozenset[str]:
    """The national structure ids (XON.10) of the authorInstitutions of an entry."""
    xons = _values(
        node,
        f"r:Classification[@classificationScheme='{c.DE_AUTHOR}']"
        "/r:Slot[@name='authorInstitution']/r:ValueList/r:Value/text()",
    )
    return frozenset(x.split("^")[9] for x in xons if x.count("^") >= 9)


class DmpRegistry:
    """Entries by entryUUID; ``check_codes`` checks the codes of an ExtrinsicObject."""

    def __init__(self, check_codes: Callable[[etree._Element], None]) -> None:
        self.entries: dict[str, Stored] = {}
        self._check_codes = check_codes

    def add(self, element: etree._Element, status: str = c.APPROVED) -> None:
        """Register an ExtrinsicObject (ITI-41, or a test's preload of a foreign entry)."""
        node = copy.deepcopy(element)
        node.set("lid", str(node.get("lid") or node.get("id", "")))
        self.entries[node.get("id", "")] = Stored(node, status, 1, structures_of(node))

    def by_unique_id(self, unique_id: str) -> list[Stored]:
        return [s for s in self.entries.values() if s.entry.unique_id == unique_id]

    def deprecate(self, entry_uuid: str) -> None:
        if entry_uuid in self.entries:
            self.entries[entry_uuid].status = r.DEPRECATED

    def query(self, request: etree._Element, patient_id: str) -> list[etree._Element]:
        """Answer an ITI-18 AdhocQueryRequest. Raises RegistryRefusal."""
        query = request.find(f"{R}AdhocQuery")
        if query is None or query.get("id") != r.GET_DOCUMENTS:
            raise RegistryRefusal("XDSUnknownStoredQuery", "only GetDocuments is supported")
        values = _values(
            query, "r:Slot[@name='$XDSDocumentEntryUniqueId']/r:ValueList/r:Value/text()"
        )
        if not values:
            raise RegistryRefusal("XDSStoredQueryParamNumber", "no $XDSDocumentEntryUniqueId")
        wanted = {u.strip().strip("'") for v in values for u in v.strip("()").split(",")}
        return [
            s.entry.element
            for s in self.entries.values()
            if s.entry.unique_id in wanted and s.entry.patient_id == patient_id
        ]

    def update(self, request: etree._Element, structure: str, patient_id: str) -> None:
        """Apply an ITI-57 SubmitObjectsRequest. Raises RegistryRefusal (nothing changed)."""
        objects = request.find(f"{R}RegistryObjectList")
        if objects is None:
            raise RegistryRefusal("XDSRegistryMetadataError", "no RegistryObjectList")
        changes: list[Callable[[], None]] = []
        for a in objects.findall(f"{R}Association[@associationType='{r.UPDATE_STATUS}']"):
            changes.append(self._status_change(a, structure, patient_id))
        for node in objects.findall(f"{R}ExtrinsicObject"):
            changes.append(self._new_version(node, objects, structure, patient_id))
        if not changes:
            raise RegistryRefusal("XDSMetadataUpdateOperationError", "nothing to update")
        for change in changes:
            change()

    def _authorised(self, stored: Stored, structure: str, patient_id: str, target: str) -> None:
        if stored.entry.patient_id != patient_id:
            raise RegistryRefusal("XDSPatientIdDoesNotMatch", "not the VIHF patient", target)
        if structure not in stored.structures:
            reason = "only an author structure of the document may update it"
            raise RegistryRefusal("XDSMetadataUpdateError", reason, target)

    def _status_change(
        self, association: etree._Element, structure: str, patient_id: str
    ) -> Callable[[], None]:
        target = association.get("targetObject", "")
        stored = self.entries.get(target)
        if stored is None:
            raise RegistryRefusal("XDSMetadataIdentifierError", "unknown entry", target)
        self._authorised(stored, structure, patient_id, target)
        original = _values(association, "r:Slot[@name='OriginalStatus']/r:ValueList/r:Value/text()")
        new = _values(association, "r:Slot[@name='NewStatus']/r:ValueList/r:Value/text()")
        if original != [stored.status]:
            raise RegistryRefusal(
                "XDSMetadataUpdateError", "OriginalStatus is not the status", target
            )
        if not new or (stored.status, new[0]) not in ALLOWED:
            raise RegistryRefusal("XDSMetadataUpdateError", "status change not allowed", target)

        def apply() -> None:
            stored.status = new[0]

        return apply

    def _new_version(
        self, node: etree._Element, objects: etree._Element, structure: str, patient_id: str
    ) -> Callable[[], None]:
        new_id, lid = node.get("id", ""), node.get("lid", "")
        current = next(
            (
                s
                for s in self.entries.values()
                if s.element.get("lid") == lid and s.status == c.APPROVED
            ),
            None,
        )
        if current is None or lid == new_id:
            raise RegistryRefusal(
                "XDSMetadataIdentifierError", "no approved entry with this lid", new_id
            )
        self._authorised(current, structure, patient_id, new_id)
        previous = _values(
            objects,
            f"r:Association[@associationType='{c.HAS_MEMBER}'][@targetObject='{new_id}']"
            "/r:Slot[@name='PreviousVersion']/r:ValueList/r:Value/text()",
        )
        if previous != [str(current.version)]:
            raise RegistryRefusal(
                "XDSMetadataVersionError", "PreviousVersion is not the current", new_id
            )
        old, new = current.entry, r.read_entry(node)
        if (new.unique_id, new.patient_id) != (old.unique_id, old.patient_id):
            raise RegistryRefusal("XDSMetadataUpdateError", "uniqueId or patientId changed", new_id)
        self._check_codes(node)

        def apply() -> None:
            current.status = r.DEPRECATED
            self.entries[new_id] = Stored(
                copy.deepcopy(node), c.APPROVED, current.version + 1, structures_of(node)
            )

        return apply


__all__ = ["DmpRegistry", "RegistryRefusal", "Stored", "structures_of"]
