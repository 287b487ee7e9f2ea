"""IHE XDM (ITI-32) packages: ``IHE_XDM.ZIP`` read into documents, and written.

Reading (:func:`read_xdm`) finds ``IHE_XDM/<subset>/METADATA.XML`` (names matched
case-insensitively; the whole tree may sit in one top-level folder), reads each subset's
metadata and resolves every entry's ``URI`` relative to the subset folder, then to
``IHE_XDM/``, then to the archive root. Hash (SHA-1) and size are checked: a mismatch is a
warning, or an :class:`XdmError` (kind ``integrity``) when ``strict``. A listed document
that is missing refuses the package. Signature entries (XDM submission-set signatures) are
returned apart. ``INDEX.HTM`` and ``README.TXT`` are expected but not required (warning).

Writing (:func:`build_xdm`) lays out ``INDEX.HTM``, ``README.TXT`` and
``IHE_XDM/SUBSET01/`` with ``METADATA.XML`` and the documents.
"""

from __future__ import annotations

import hashlib
import html
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from engine.formats.xdm.archive import XdmError, ZipLimits, lookup, read_archive, write_archive
from engine.formats.xdm.metadata import EntryMetadata, SubmissionMetadata, read_metadata

SUBSET = "SUBSET01"


@dataclass(frozen=True, slots=True)
class XdmDocument:
    """A document of the package: its metadata entry, path in the archive and bytes."""

    entry: EntryMetadata
    path: str
    content: bytes
    hash_ok: bool
    size_ok: bool

    @property
    def key(self) -> str:
        """What identifies the document within its mail: uniqueId, else its path."""
        return self.entry.unique_id or self.path


@dataclass(frozen=True, slots=True)
class XdmPackage:
    """What :func:`read_xdm` found. ``warnings`` are patient-free sentences."""

    submissions: tuple[SubmissionMetadata, ...]
    documents: tuple[XdmDocument, ...]
    signatures: tuple[XdmDocument, ...]
    warnings: tuple[str, ...]


def _metadata_files(files: dict[str, bytes]) -> list[tuple[str, str]]:
    """``(subset dir, METADATA.XML path)`` pairs, e.g. ``("IHE_XDM/SUBSET01", ...)``."""
    found = []
    for name in files:
        parts = name.split("/")
        if parts[-1].upper() != "METADATA.XML" or len(parts) not in (3, 4):
            continue
        if parts[-3].upper() == "IHE_XDM":
            found.append(("/".join(parts[:-1]), name))
    return sorted(found)


def _resolve(files: dict[str, bytes], subset_dir: str, uri: str) -> tuple[str, bytes] | None:
    xdm_dir = posixpath.dirname(subset_dir)
    root = posixpath.dirname(xdm_dir)
    clean = uri.replace("\\", "/").lstrip("/")
    if not clean or ".." in clean.split("/"):
        return None
    for base in (subset_dir, xdm_dir, root):
        hit = lookup(files, posixpath.join(base, clean) if base else clean)
        if hit is not None:
            return hit
    return None


def _check(
    entry: EntryMetadata, path: str, content: bytes, strict: bool, warnings: list[str]
) -> XdmDocument:
    digest = hashlib.sha1(content, usedforsecurity=False).hexdigest()
    hash_ok = not entry.hash or entry.hash == digest
    size_ok = entry.size is None or entry.size == len(content)
    for ok, what in ((hash_ok, "hash"), (size_ok, "size")):
        if not ok:
            message = f"document {entry.id or path}: {what} differs from METADATA.XML"
            if strict:
                raise XdmError(message, kind="integrity")
            warnings.append(message)
    return XdmDocument(entry, path, content, hash_ok, size_ok)


def read_xdm(data: bytes, *, limits: ZipLimits | None = None, strict: bool = False) -> XdmPackage:
    """Unpack an ``IHE_XDM.ZIP``.

    Raises:
        XdmError: an unsafe or unreadable archive (see :mod:`.archive`), no METADATA.XML,
            unusable metadata, a listed document missing, a document listed twice, or
            (``strict``) a hash or size mismatch.
    """
    files = read_archive(data, limits)
    warnings: list[str] = []
    metadata_files = _metadata_files(files)
    if not metadata_files:
        raise XdmError("no IHE_XDM/<subset>/METADATA.XML in the archive", kind="structure")
    top = posixpath.dirname(posixpath.dirname(metadata_files[0][0]))
    for name in ("INDEX.HTM", "README.TXT"):
        if lookup(files, posixpath.join(top, name) if top else name) is None:
            warnings.append(f"the archive has no {name}")
    submissions: list[SubmissionMetadata] = []
    documents: list[XdmDocument] = []
    signatures: list[XdmDocument] = []
    used: set[str] = set()
    for subset_dir, metadata_path in metadata_files:
        metadata = read_metadata(files[metadata_path])
        submissions.append(metadata)
        for entry in metadata.entries:
            hit = _resolve(files, subset_dir, entry.uri)
            if hit is None:
                raise XdmError(
                    f"document {entry.id or '?'} is listed in METADATA.XML but not in the archive",
                    kind="structure",
                )
            path, content = hit
            if path in used:
                raise XdmError(f"document file {path} is listed twice", kind="structure")
            used.add(path)
            document = _check(entry, path, content, strict, warnings)
            (signatures if entry.is_signature else documents).append(document)
        patients = {e.patient_id for e in metadata.entries if e.patient_id}
        if metadata.patient_id:
            patients.add(metadata.patient_id)
        if len(patients) > 1:
            warnings.append("the submission set names more than one patient id")
    extra = [n for n in files if n not in used and n not in {m for _, m in metadata_files}]
    stray = [n for n in extra if posixpath.basename(n).upper() not in ("INDEX.HTM", "README.TXT")]
    if stray:
        warnings.append(f"{len(stray)} file(s) in the archive are not listed in METADATA.XML")
    return XdmPackage(tuple(submissions), tuple(documents), tuple(signatures), tuple(warnings))


@dataclass(frozen=True, slots=True)
class OutgoingDocument:
    """A document to package: file name inside the subset folder, bytes, title."""

    filename: str
    content: bytes
    title: str


def _index(documents: Sequence[OutgoingDocument], sender: str) -> bytes:
    items = "".join(
        f'<li><a href="IHE_XDM/{SUBSET}/{html.escape(d.filename)}">{html.escape(d.title)}</a></li>'
        for d in documents
    )
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>IHE XDM</title></head>'
        f"<body><h1>Documents</h1><p>{html.escape(sender)}</p><ul>{items}</ul>"
        f'<p><a href="IHE_XDM/{SUBSET}/METADATA.XML">METADATA.XML</a></p></body></html>\r\n'
    )
    return page.encode("utf-8")


def _readme(sender: str, product: str) -> bytes:
    text = (
        "IHE XDM package (IHE ITI-32, Cross-Enterprise Document Media Interchange).\r\n"
        f"Sender: {sender}\r\n"
        f"Produced by: {product}\r\n"
        f"Contents: INDEX.HTM, IHE_XDM/{SUBSET}/METADATA.XML and the documents it lists.\r\n"
    )
    return text.encode("utf-8")


def build_xdm(
    documents: Sequence[OutgoingDocument], metadata_xml: bytes, *, sender: str, product: str
) -> bytes:
    """The ``IHE_XDM.ZIP`` bytes: INDEX.HTM, README.TXT, the subset's METADATA.XML and the
    documents. The same input gives the same bytes.

    Raises:
        XdmError: a file name is unsafe or repeated.
    """
    entries = [
        ("INDEX.HTM", _index(documents, sender)),
        ("README.TXT", _readme(sender, product)),
        (f"IHE_XDM/{SUBSET}/METADATA.XML", metadata_xml),
    ]
    entries += [(f"IHE_XDM/{SUBSET}/{d.filename}", d.content) for d in documents]
    return write_archive(entries)


__all__ = ["SUBSET", "OutgoingDocument", "XdmDocument", "XdmPackage", "build_xdm", "read_xdm"]
