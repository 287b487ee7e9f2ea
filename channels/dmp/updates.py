"""ITI-57 updates of documents already in the DMP, asked by the producer: deletion (OBX-11
``D``, MDM T04: TD3.3c), new masking/visibility codes (``MODIF_CONF_CODE=Y``: TD3.3a/b),
archiving and unarchiving (TD3.3d).

For each document: ITI-18 finds the registry entry by the CDA's uniqueId (the entryUUID and
version the registry gave it, whoever published it); then one ITI-57 Update Document Set
with its own SubmissionSet authored by the structure. Refusals carry ANS codes (900 when the
DMP does not hold the document, 906 when the structure is not an author), never values.
"""

from __future__ import annotations

from datetime import UTC, datetime

from channels.dmp.registry import RegistryClient
from engine.errors import MappingError, PermanentDeliveryError
from engine.formats.cda import Action, CdaDocument
from engine.formats.xds import registry as r
from engine.formats.xds import tables as t
from engine.formats.xds.from_cda import (
    PreparedDocument,
    StructureMismatch,
    SubmissionSettings,
    document_entry,
    structure_institution,
)
from engine.formats.xds.gating import DmpRefusal
from engine.formats.xds.model import Author, SubmissionSet, derived_uuid, oid_for
from engine.formats.xds.payload import RequestedDocument
from engine.formats.xds.tables import XdsTables


def _refused(code: str, reason: str) -> PermanentDeliveryError:
    return PermanentDeliveryError(f"not sent to the DMP: {DmpRefusal(code, reason)}")


class DocumentUpdates:
    """Applies the updates of one delivery through ``registry``."""

    def __init__(
        self, registry: RegistryClient, tables: XdsTables, settings: SubmissionSettings
    ) -> None:
        self.registry, self.tables, self.settings = registry, tables, settings

    async def apply(
        self, documents: list[tuple[RequestedDocument, CdaDocument]], *, key: str
    ) -> str:
        """Find and update every document; the details joined. Raises
        PermanentDeliveryError / RetryableDeliveryError."""
        details = []
        for n, (doc, cda) in enumerate(documents, start=1):
            details.append(await self._one(n, doc, cda, key=key))
        return "; ".join(details)

    async def _one(self, n: int, doc: RequestedDocument, cda: CdaDocument, *, key: str) -> str:
        try:
            entry = document_entry(
                PreparedDocument(cda, extra_confidentiality=doc.confidentiality),
                self.tables,
                self.settings,
            )
        except MappingError as exc:
            raise PermanentDeliveryError(f"document {n}: {exc}") from exc
        structure = self.settings.structure_id or ""
        institution = structure_institution(entry, structure)
        if institution is None:
            raise _refused("906", str(StructureMismatch([n])))
        found = await self.registry.find(entry.unique_id, entry.patient_id)
        if found is None:
            raise _refused("900", f"document {n} is not in the DMP (ITI-18 found no entry)")
        content_type = self.tables.get(t.CONTENT_TYPES, self.settings.content_type)
        if content_type is None:
            raise PermanentDeliveryError(
                f"contentTypeCode {self.settings.content_type!r} is not in "
                "xds_content_type_codes.yaml"
            )
        person = self.settings.author.person if self.settings.author else ""
        what = "delete" if doc.action is Action.DELETE else str(doc.update)
        submission_set = SubmissionSet(
            entry_uuid=derived_uuid("update", key, what, entry.unique_id),
            unique_id=oid_for("update", key, what, entry.unique_id),
            source_id=self.settings.source_id,
            patient_id=entry.patient_id,
            submission_time=datetime.now(UTC).strftime("%Y%m%d%H%M%S"),
            content_type=content_type,
            authors=(Author(person=person, institutions=(institution,)),),
        )
        if what == "delete":
            request = r.update_status(submission_set, found, r.DELETED)
        elif what == "archive":
            request = r.update_status(submission_set, found, r.ARCHIVED)
        elif what == "unarchive":
            request = r.update_status(submission_set, found, r.APPROVED)
        else:
            request = r.update_confidentiality(submission_set, found, entry.confidentiality)
        detail = await self.registry.update(request, entry.patient_id)
        return f"{what}: {detail}"


__all__ = ["DocumentUpdates"]
