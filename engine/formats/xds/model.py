"""The XDS.b metadata model: SubmissionSet, DocumentEntry, Association, Submission.

Values are already in their XDS wire form (HL7v2 data types for people, organisations and
patient ids; UTC ``YYYYMMDDhhmmss`` times); :mod:`engine.formats.xds.ebrim` only places
them in ebRIM 3.0. Every object id is a ``urn:uuid:`` so that a registry keeps it: the
DocumentEntry entryUUID is derived from the document uniqueId, which is what lets a later
version point its RPLC association at it without asking the registry.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.formats.xds import constants as c

PASSERELLE_NS = uuid.UUID("0d5c7d8e-4a1e-5c3f-9a64-70617373726c")
"""Namespace of the UUIDs this engine derives (uuid5)."""


def derived_uuid(*parts: str) -> str:
    """A stable ``urn:uuid:`` for ``parts`` (same input, same id, on every machine)."""
    return f"urn:uuid:{uuid.uuid5(PASSERELLE_NS, '|'.join(parts))}"


def entry_uuid_for(unique_id: str) -> str:
    """The entryUUID this engine gives the DocumentEntry of document ``unique_id``."""
    return derived_uuid("entry", unique_id)


def oid_for(*parts: str) -> str:
    """A stable OID under ``2.25`` (UUID-derived OIDs, ITU-T X.667) for ``parts``."""
    return f"2.25.{uuid.uuid5(PASSERELLE_NS, '|'.join(parts)).int}"


@dataclass(frozen=True, slots=True)
class CodedValue:
    """A classification code: ``code``, coding scheme OID, display name."""

    code: str
    scheme: str
    display: str


@dataclass(frozen=True, slots=True)
class Author:
    """An XDS author: XCN person, XON institutions, roles and specialties (CE text)."""

    person: str = ""
    institutions: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    specialties: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DocumentEntry:
    """One stable DocumentEntry (ITI TF-3 Table 4.3.1.3-1), the document it describes."""

    entry_uuid: str
    unique_id: str
    patient_id: str
    source_patient_id: str
    source_patient_info: tuple[str, ...]
    class_code: CodedValue
    type_code: CodedValue
    format_code: CodedValue
    healthcare_facility_type: CodedValue
    practice_setting: CodedValue
    confidentiality: tuple[CodedValue, ...]
    mime_type: str
    hash: str
    size: int
    creation_time: str
    language: str
    title: str
    authors: tuple[Author, ...]
    legal_authenticator: str = ""
    service_start_time: str = ""
    service_stop_time: str = ""
    event_codes: tuple[CodedValue, ...] = ()


@dataclass(frozen=True, slots=True)
class SubmissionSet:
    """The SubmissionSet (RegistryPackage) of one ITI-41 request."""

    entry_uuid: str
    unique_id: str
    source_id: str
    patient_id: str
    submission_time: str
    content_type: CodedValue
    authors: tuple[Author, ...]
    title: str = ""


@dataclass(frozen=True, slots=True)
class Association:
    """An Association: ``HasMember`` (set → entry) or ``RPLC`` (new entry → old entry)."""

    id: str
    type: str
    source: str
    target: str
    submission_set_status: str = ""


@dataclass(frozen=True, slots=True)
class Submission:
    """A complete ProvideAndRegisterDocumentSet-b request: metadata and document bytes.

    ``documents`` maps each entry's entryUUID to the bytes whose hash and size it states.
    """

    submission_set: SubmissionSet
    entries: tuple[DocumentEntry, ...]
    associations: tuple[Association, ...]
    documents: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def replacements(self) -> tuple[Association, ...]:
        return tuple(a for a in self.associations if a.type == c.RPLC)


def sha1_hex(content: bytes) -> str:
    """The XDS ``hash`` of a document: SHA-1, lowercase hex."""
    return hashlib.sha1(content, usedforsecurity=False).hexdigest()


def assemble(
    submission_set: SubmissionSet,
    entries: list[tuple[DocumentEntry, bytes, str | None]],
) -> Submission:
    """Build the Submission: one HasMember per entry, one RPLC per replaced entryUUID.

    ``entries`` holds ``(entry, content, replaced_entry_uuid_or_None)``.
    """
    associations: list[Association] = []
    for entry, _, replaced in entries:
        associations.append(
            Association(
                derived_uuid("hasmember", submission_set.entry_uuid, entry.entry_uuid),
                c.HAS_MEMBER,
                submission_set.entry_uuid,
                entry.entry_uuid,
                "Original",
            )
        )
        if replaced is not None:
            associations.append(
                Association(
                    derived_uuid("rplc", entry.entry_uuid, replaced),
                    c.RPLC,
                    entry.entry_uuid,
                    replaced,
                )
            )
    return Submission(
        submission_set,
        tuple(e for e, _, _ in entries),
        tuple(associations),
        {e.entry_uuid: content for e, content, _ in entries},
    )


__all__ = [
    "Association",
    "Author",
    "CodedValue",
    "DocumentEntry",
    "Submission",
    "SubmissionSet",
    "assemble",
    "derived_uuid",
    "entry_uuid_for",
    "oid_for",
    "sha1_hex",
]
