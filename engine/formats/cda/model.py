"""The CDA R2 header as frozen dataclasses (what sharing needs, nothing of the body).

Times stay HL7 TS strings as written (``20191203133000+0100``); codes keep their code
system OID. Absent elements are ``None`` or empty strings/tuples, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from lxml import etree

from engine.formats.cda.ins import Ins

HL7_NS = "urn:hl7-org:v3"
NS = {"h": HL7_NS}


@dataclass(frozen=True, slots=True)
class Identifier:
    """An II: ``root`` OID (or UUID) and optional ``extension``."""

    root: str
    extension: str = ""

    @property
    def unique_id(self) -> str:
        """The XDS uniqueId form: ``root^extension``, or ``root`` alone."""
        return f"{self.root}^{self.extension}" if self.extension else self.root


@dataclass(frozen=True, slots=True)
class Code:
    """A CD/CE: code, code system OID, display name."""

    code: str
    system: str = ""
    display: str = ""


@dataclass(frozen=True, slots=True)
class PersonName:
    """A professional's name (first family, given names in order, prefix, suffix)."""

    family: str = ""
    given: tuple[str, ...] = ()
    prefix: str = ""
    suffix: str = ""


@dataclass(frozen=True, slots=True)
class PatientName:
    """The patient's name parts by qualifier (RNIV): ``BR`` birth, ``CL``/``SP`` used."""

    birth_family: str = ""
    first_given: str = ""
    given_list: str = ""
    used_family: str = ""
    used_given: str = ""


@dataclass(frozen=True, slots=True)
class Patient:
    """``recordTarget/patientRole`` with the INS and the identity traits."""

    ids: tuple[Identifier, ...]
    ins: Ins | None
    name: PatientName
    gender: str = ""
    birth_time: str = ""
    birthplace_code: str = ""

    @property
    def local_ids(self) -> tuple[Identifier, ...]:
        """Identifiers that are not an INS (IPP...)."""
        ins_root = self.ins.oid if self.ins else None
        return tuple(i for i in self.ids if i.root != ins_root)


@dataclass(frozen=True, slots=True)
class Organization:
    """An organisation: identifiers (FINESS/SIRET under ``1.2.250.1.71.4.2.2``) and name."""

    ids: tuple[Identifier, ...] = ()
    name: str = ""
    industry_code: Code | None = None


@dataclass(frozen=True, slots=True)
class Actor:
    """A person acting on the document (author, legal authenticator, performer)."""

    ids: tuple[Identifier, ...] = ()
    name: PersonName | None = None
    code: Code | None = None
    organization: Organization | None = None
    time: str = ""
    device: str = ""


@dataclass(frozen=True, slots=True)
class ServiceEvent:
    """``documentationOf/serviceEvent``: code, period and performers' practice setting."""

    code: Code | None = None
    low: str = ""
    high: str = ""
    practice_setting: Code | None = None


@dataclass(frozen=True, slots=True)
class Encounter:
    """``componentOf/encompassingEncounter``."""

    ids: tuple[Identifier, ...] = ()
    code: Code | None = None
    low: str = ""
    high: str = ""
    facility_type: Code | None = None


@dataclass(frozen=True, slots=True)
class CdaHeader:
    """Everything of the header that routing, checks and XDS metadata use."""

    id: Identifier | None
    set_id: Identifier | None
    version_number: int | None
    code: Code | None
    title: str
    effective_time: str
    confidentiality: Code | None
    language: str
    realm: str
    type_id: Identifier | None
    template_ids: tuple[Identifier, ...]
    patient: Patient | None
    authors: tuple[Actor, ...]
    custodian: Organization | None
    legal_authenticator: Actor | None
    legal_signature_code: str
    encounter: Encounter | None
    service_events: tuple[ServiceEvent, ...]
    replaces: Identifier | None
    related_documents: tuple[tuple[str, Identifier], ...] = ()
    data_enterers: int = 0

    @property
    def template_roots(self) -> frozenset[str]:
        return frozenset(t.root for t in self.template_ids)


class Level(IntEnum):
    """CDA level: 1 = ``nonXMLBody`` (PDF...), 3 = ``structuredBody``."""

    UNSTRUCTURED = 1
    STRUCTURED = 3


@dataclass(frozen=True, slots=True)
class CdaDocument:
    """A CDA as read: its header, level and presentation, and the bytes received.

    Attributes:
        raw: the bytes received (what is stored and submitted unchanged).
        header: the extracted header.
        level: 1 (``nonXMLBody``) or 3 (``structuredBody``).
        autopresentable: the CDA came wrapped in an ``xsl:stylesheet`` (ANS auto-presentable).
        mime_type: XDS mimeType: ``text/xml``, or ``application/xslt+xml`` when wrapped.
        body_media_type: ``nonXMLBody/text/@mediaType`` for level 1 (``application/pdf``).
        element: the ``ClinicalDocument`` element (inside the wrapper, if any).
    """

    raw: bytes
    header: CdaHeader
    level: Level
    autopresentable: bool
    mime_type: str
    body_media_type: str = ""
    element: etree._Element | None = field(default=None, compare=False, repr=False)

    def metadata(self) -> dict[str, str]:
        """Patient-free facts for the envelope metadata (routing, listing)."""
        h = self.header
        facts = {
            "cda.id": h.id.unique_id if h.id else "",
            "cda.set_id": h.set_id.unique_id if h.set_id else "",
            "cda.version": str(h.version_number or ""),
            "cda.type_code": h.code.code if h.code else "",
            "cda.level": str(int(self.level)),
            "cda.autopresentable": "true" if self.autopresentable else "false",
        }
        if h.replaces is not None:
            facts["cda.replaces"] = h.replaces.unique_id
        return facts


__all__ = [
    "HL7_NS",
    "NS",
    "Actor",
    "CdaDocument",
    "CdaHeader",
    "Code",
    "Encounter",
    "Identifier",
    "Level",
    "Organization",
    "Patient",
    "PatientName",
    "PersonName",
    "ServiceEvent",
]
