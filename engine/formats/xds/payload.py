"""What the ``dmp_xds`` destination receives: one CDA, or a set of documents with facts.

* ``application/cda+xml`` (also ``text/xml``, ``application/xml``): the CDA bytes; gating
  facts come from the payload metadata (``ins.qualified``, ``dmp.opposition``...).
* ``application/vnd.passerelle.dmp-documents+json``: written by the HL7 transform
  (:mod:`engine.formats.xds.transforms`) for the documents of one ORU/MDM::

      {"documents": [{"content": "<base64>", "action": "initial|replace|delete",
                      "replaces": "<parent uniqueId>|null", "confidentiality": ["MASQUE_PS"]}],
       "facts": {"ins.qualified": "true", ...}, "destined": true, "content_type": "03"}
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.errors import DocumentError
from engine.formats.cda.hl7_carried import Action

DMP_DOCUMENTS = "application/vnd.passerelle.dmp-documents+json"
CDA_TYPES = frozenset({"application/cda+xml", "text/xml", "application/xml"})


UPDATES = ("confidentiality", "archive", "unarchive")
"""ITI-57 updates a document entry may ask for instead of a feeding: new confidentiality
codes (HL7 ``MODIF_CONF_CODE=Y``: the masking flags become the entry's codes), archiving,
unarchiving. A deletion is ``action: delete`` (OBX-11 D, MDM T04)."""


@dataclass(frozen=True, slots=True)
class RequestedDocument:
    """One document to publish, with what the sender asked for it."""

    content: bytes
    action: Action = Action.INITIAL
    replaces: str | None = None
    confidentiality: tuple[str, ...] = ()
    update: str | None = None


@dataclass(frozen=True, slots=True)
class DmpRequest:
    """A decoded payload: documents, gating facts, DESTDMP, optional contentTypeCode."""

    documents: tuple[RequestedDocument, ...]
    facts: Mapping[str, str] = field(default_factory=dict)
    destined: bool = True
    content_type: str | None = None


def encode(request: DmpRequest) -> bytes:
    """The JSON body of a ``DMP_DOCUMENTS`` payload."""
    body = {
        "documents": [
            {
                "content": base64.b64encode(d.content).decode("ascii"),
                "action": d.action.value,
                "replaces": d.replaces,
                "confidentiality": list(d.confidentiality),
                **({"update": d.update} if d.update else {}),
            }
            for d in request.documents
        ],
        "facts": dict(request.facts),
        "destined": request.destined,
        "content_type": request.content_type,
    }
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def _document(item: object) -> RequestedDocument:
    if not isinstance(item, dict):
        raise DocumentError("each document must be an object", kind="invalid")
    try:
        content = base64.b64decode(str(item["content"]), validate=True)
        action = Action(item.get("action", "initial"))
    except (KeyError, ValueError, binascii.Error) as exc:
        raise DocumentError(f"bad document entry: {exc}", kind="invalid") from exc
    replaces, update = item.get("replaces"), item.get("update")
    if update is not None and update not in UPDATES:
        raise DocumentError(f"bad document entry: update must be one of {UPDATES}", kind="invalid")
    return RequestedDocument(
        content,
        action,
        str(replaces) if replaces else None,
        tuple(str(c) for c in item.get("confidentiality") or ()),
        str(update) if update else None,
    )


def decode(body: bytes, content_type: str, metadata: Mapping[str, str]) -> DmpRequest:
    """Read a payload of either kind.

    Raises:
        DocumentError: unknown content type, or a malformed ``DMP_DOCUMENTS`` body.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media in CDA_TYPES:
        return DmpRequest((RequestedDocument(body),), dict(metadata))
    if media != DMP_DOCUMENTS:
        raise DocumentError(f"content type {content_type!r} is not a CDA", kind="not-cda")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DocumentError(f"{DMP_DOCUMENTS} body is not JSON", kind="malformed") from exc
    if not isinstance(data, dict) or not isinstance(data.get("documents"), list):
        raise DocumentError(f"{DMP_DOCUMENTS} body needs a 'documents' list", kind="invalid")
    facts = {**metadata, **{str(k): str(v) for k, v in (data.get("facts") or {}).items()}}
    content_type_code = data.get("content_type")
    return DmpRequest(
        tuple(_document(d) for d in data["documents"]),
        facts,
        bool(data.get("destined", True)),
        str(content_type_code) if content_type_code else None,
    )


__all__ = [
    "CDA_TYPES",
    "DMP_DOCUMENTS",
    "UPDATES",
    "DmpRequest",
    "RequestedDocument",
    "decode",
    "encode",
]
