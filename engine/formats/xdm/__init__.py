"""IHE XDM (ITI-32) packages: safe ZIP reading with limits, tolerant METADATA.XML reading,
and writing ``IHE_XDM.ZIP`` with metadata built from CDA headers. See ``docs/mssante.md``.

Typical use::

    from engine.formats.xdm import read_xdm

    package = read_xdm(zip_bytes)              # XdmError on bombs, traversal, bad metadata
    for document in package.documents:
        document.entry.unique_id, document.content
"""

from __future__ import annotations

from engine.formats.xdm.archive import XdmError, ZipLimits, read_archive, safe_name, write_archive
from engine.formats.xdm.metadata import EntryMetadata, SubmissionMetadata, read_metadata
from engine.formats.xdm.package import (
    SUBSET,
    OutgoingDocument,
    XdmDocument,
    XdmPackage,
    build_xdm,
    read_xdm,
)
from engine.formats.xdm.writer import (
    EntryCodes,
    document_entry,
    metadata_for_entries,
    metadata_xml,
    utc_ts,
)

__all__ = [
    "SUBSET",
    "EntryCodes",
    "EntryMetadata",
    "OutgoingDocument",
    "SubmissionMetadata",
    "XdmDocument",
    "XdmError",
    "XdmPackage",
    "ZipLimits",
    "build_xdm",
    "document_entry",
    "metadata_for_entries",
    "metadata_xml",
    "read_archive",
    "read_metadata",
    "read_xdm",
    "safe_name",
    "utc_ts",
    "write_archive",
]
