"""The patient identifiers of a stored message, as keys of the patient index.

HL7v2 (PAM-FR and any ADT/ORU carrying a PID):

* PID-3 repetitions: identifier type (CX-5) ``PI`` -> IPP; ``INS`` -> INS (matricule INS,
  NIR or NIA); ``NH`` under an INS-NIR OID (CX-4.2, ``1.2.250.1.213.1.4.8``, test ``.10``,
  demo ``.11``) -> INS as well: it is the NIR of the insured person, the same 15
  characters the operator reads on the patient's card (for a child it may be a parent's
  NIR, so a search by that number also finds the parent's messages);
* a repetition without a type whose authority OID is an INS OID -> INS; other untyped or
  otherwise typed repetitions are not indexed;
* NDA: PID-18 (first component) and PV1-19 (first component, the visit number; PAM-FR
  sends the same number in both when a system has only one);
* MRG-1 typed ``PI`` (the IPP merged away in an A40) -> IPP, so both IPPs find a merge.

CDA: ``recordTarget/patientRole/id``: under an INS OID (``.8``/``.9``/``.10``/``.11``)
-> INS, any other root with an extension -> IPP (the producer's local identifier).

The HL7 explicit null ``""`` and empty values are skipped. Extraction reads each element
once (linear in the message) and never raises: a message it cannot read has no keys.
Values are patient data: they are turned into digests here and never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from engine.formats.cda import CDA_CONTENT_TYPE
from engine.formats.hl7v2.message import Message
from engine.formats.hl7v2.pamfr.ins import INS_OIDS, INS_TYPE
from engine.formats.hl7v2.parser import parse_stored
from engine.formats.hl7v2.segment import Segment
from engine.message import HL7V2, Envelope
from engine.patient_index import PatientIdKind, normalise, patient_key

log = logging.getLogger(__name__)

XML_TYPES = frozenset({CDA_CONTENT_TYPE, "application/hl7-cda+xml", "application/xml", "text/xml"})
"""Content types read as a CDA document."""
_HL7_NULL = '""'
_NIR_OIDS = frozenset(oid for oid, (kind, _) in INS_OIDS.items() if kind.value == "nir")
_HL7_NS = "urn:hl7-org:v3"
_MAX_IDS = 64
"""At most this many identifiers per message (a hostile PID-3 cannot blow the index up)."""

Identifier = tuple[PatientIdKind, str]


def patient_keys(envelope: Envelope, secret: bytes) -> list[bytes]:
    """The index keys of a message (distinct, in the order found); [] when it has no
    patient identifier or cannot be read. Never raises (an empty secret gives [])."""
    if not secret:
        return []
    try:
        found = identifiers(envelope)
    except Exception:  # odd input never fails the pipeline: the message is just not indexed
        log.debug("Patient identifiers not readable.", extra={"message_id": envelope.id})
        return []
    keys: list[bytes] = []
    for kind, value in found:
        key = patient_key(secret, kind, value)
        if key not in keys:
            keys.append(key)
    return keys


def identifiers(envelope: Envelope) -> list[Identifier]:
    """The (kind, value) pairs of a message (values normalised, non-empty, distinct).

    Raises:
        whatever the parsers raise on unreadable input (:func:`patient_keys` absorbs it).
    """
    if envelope.content_type == HL7V2:
        pairs: Iterable[Identifier] = hl7v2_identifiers(
            parse_stored(envelope.raw, envelope.metadata)
        )
    elif envelope.content_type in XML_TYPES:
        pairs = cda_identifiers(envelope.raw)
    else:
        return []
    out: list[Identifier] = []
    for kind, value in pairs:
        text = normalise(value)
        if text and text != _HL7_NULL and (kind, text) not in out:
            out.append((kind, text))
            if len(out) >= _MAX_IDS:
                break
    return out


def hl7v2_identifiers(message: Message) -> Iterator[Identifier]:
    """Identifiers of a parsed HL7v2 message (see the module docstring)."""
    sub = message.delimiters.subcomponent
    for pid in message.segments("PID"):
        yield from _cx_identifiers(pid, 3, sub)
        nda = pid.get(18)
        if nda:
            yield PatientIdKind.NDA, nda
    for pv1 in message.segments("PV1"):
        visit = pv1.get(19)
        if visit:
            yield PatientIdKind.NDA, visit
    for mrg in message.segments("MRG"):
        for kind, value in _cx_identifiers(mrg, 1, sub):
            if kind is PatientIdKind.IPP:
                yield kind, value


def _cx_identifiers(segment: Segment, field: int, sub: str) -> Iterator[Identifier]:
    for rep in range(1, len(segment.repetitions(field)) + 1):
        parts = segment.components(field, rep)  # ER7; codes and OIDs carry no escapes
        if not parts or not parts[0] or parts[0] == _HL7_NULL:
            continue
        type_code = parts[4].upper() if len(parts) > 4 else ""
        oid = parts[3].split(sub)[1] if len(parts) > 3 and sub and sub in parts[3] else ""
        kind = _cx_kind(type_code, oid)
        if kind is not None:
            yield kind, segment.get(field, rep, 1)  # the value itself, unescaped


def _cx_kind(type_code: str, oid: str) -> PatientIdKind | None:
    if type_code == "PI":
        return PatientIdKind.IPP
    if type_code == INS_TYPE:
        return PatientIdKind.INS
    if type_code == "NH":
        return PatientIdKind.INS if oid in _NIR_OIDS else None
    if not type_code and oid in INS_OIDS:
        return PatientIdKind.INS
    return None


def cda_identifiers(raw: bytes) -> Iterator[Identifier]:
    """Identifiers of ``recordTarget/patientRole/id`` in a CDA (safe XML parsing)."""
    from engine.formats.cda.reader import unwrap
    from engine.formats.cda.safe_xml import parse_xml

    doc, _ = unwrap(parse_xml(raw))
    path = f"{{{_HL7_NS}}}recordTarget/{{{_HL7_NS}}}patientRole/{{{_HL7_NS}}}id"
    for element in doc.iterfind(path):
        root = element.get("root") or ""
        extension = element.get("extension") or ""
        if not extension:
            continue
        yield (PatientIdKind.INS if root in INS_OIDS else PatientIdKind.IPP), extension


__all__ = ["XML_TYPES", "cda_identifiers", "hl7v2_identifiers", "identifiers", "patient_keys"]
