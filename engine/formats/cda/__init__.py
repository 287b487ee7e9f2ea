"""CDA R2 documents: safe reading, header extraction, French header rules, XSD validation.

See ``docs/cda.md``. Typical use::

    from engine.formats.cda import read_cda, check_header, validate

    doc = read_cda(raw)                     # DocumentError on attack / malformed / not a CDA
    doc.header.patient.ins                  # Ins(value, oid, kind, ...) or None
    findings = check_header(doc.header, doc.level)
    problems = validate(doc.element, "../shared/corpus/schemas/cda-ans/CDA_extended.xsd")
"""

from __future__ import annotations

from engine.formats.cda.hl7_carried import (
    Action,
    CarriedDocument,
    Hl7Identity,
    extract_documents,
    identity,
    meta_flags,
)
from engine.formats.cda.ins import INS_OIDS, Ins, InsKind, key_valid, nir_key
from engine.formats.cda.model import (
    Actor,
    CdaDocument,
    CdaHeader,
    Code,
    Encounter,
    Identifier,
    Level,
    Organization,
    Patient,
    PatientName,
    PersonName,
    ServiceEvent,
)
from engine.formats.cda.reader import (
    MIME_AUTOPRESENTABLE,
    MIME_CDA,
    embedded_body,
    read_cda,
    unwrap,
)
from engine.formats.cda.rules import Finding, check_header, errors
from engine.formats.cda.safe_xml import DEFAULT_MAX_BYTES, check_size, parse_xml
from engine.formats.cda.schema import load_schema, validate

CDA_CONTENT_TYPE = "application/cda+xml"
"""Content type of envelopes holding one CDA document (set by the CDA intake channels)."""

__all__ = [
    "CDA_CONTENT_TYPE",
    "DEFAULT_MAX_BYTES",
    "INS_OIDS",
    "MIME_AUTOPRESENTABLE",
    "MIME_CDA",
    "Action",
    "Actor",
    "CarriedDocument",
    "CdaDocument",
    "CdaHeader",
    "Code",
    "Encounter",
    "Finding",
    "Hl7Identity",
    "Identifier",
    "Ins",
    "InsKind",
    "Level",
    "Organization",
    "Patient",
    "PatientName",
    "PersonName",
    "ServiceEvent",
    "check_header",
    "check_size",
    "embedded_body",
    "errors",
    "extract_documents",
    "identity",
    "key_valid",
    "load_schema",
    "meta_flags",
    "nir_key",
    "parse_xml",
    "read_cda",
    "unwrap",
    "validate",
]
