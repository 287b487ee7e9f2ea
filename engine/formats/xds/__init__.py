"""IHE XDS.b for the DMP: metadata model, ebRIM 3.0 serialisation, RegistryResponse,
French value-set tables, CDA → metadata, gating rules and route transforms.

See ``docs/dmp.md``. Typical use::

    tables = load_tables()                                  # mappings/tables/xds_*.yaml
    submission = build_submission([PreparedDocument(cda)], settings, tables, key=key)
    request, attachments = provide_and_register(submission)  # lxml element + MTOM parts
"""

from __future__ import annotations

from engine.formats.xds.ebrim import content_id, provide_and_register
from engine.formats.xds.from_cda import (
    PreparedDocument,
    SubmissionSettings,
    build_submission,
    document_entry,
)
from engine.formats.xds.gating import (
    DmpRefusal,
    GatePolicy,
    check_cda,
    check_facts,
    hl7_facts,
    refuse,
)
from engine.formats.xds.model import (
    Association,
    Author,
    CodedValue,
    DocumentEntry,
    Submission,
    SubmissionSet,
    entry_uuid_for,
    sha1_hex,
)
from engine.formats.xds.payload import DMP_DOCUMENTS, DmpRequest, RequestedDocument
from engine.formats.xds.response import (
    RegistryError,
    RegistryResult,
    parse_registry_response,
    registry_response,
)
from engine.formats.xds.tables import XdsTables, load_tables
from engine.formats.xds.transforms import dmp_submission_from_cda, dmp_submission_from_hl7

__all__ = [
    "DMP_DOCUMENTS",
    "Association",
    "Author",
    "CodedValue",
    "DmpRefusal",
    "DmpRequest",
    "DocumentEntry",
    "GatePolicy",
    "PreparedDocument",
    "RegistryError",
    "RegistryResult",
    "RequestedDocument",
    "Submission",
    "SubmissionSet",
    "SubmissionSettings",
    "XdsTables",
    "build_submission",
    "check_cda",
    "check_facts",
    "content_id",
    "dmp_submission_from_cda",
    "dmp_submission_from_hl7",
    "document_entry",
    "entry_uuid_for",
    "hl7_facts",
    "load_tables",
    "parse_registry_response",
    "provide_and_register",
    "refuse",
    "registry_response",
    "sha1_hex",
]
