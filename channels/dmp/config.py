"""Config model of the ``dmp_xds`` destination (ITI-41 to the DMP).

File paths (certificates, keys, tables, schema) are checked when the destination opens
(ChannelError), not when the config is validated, so a config can be linted elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from engine.components import ComponentConfig
from engine.config.types import ByteSize, Duration
from engine.formats.cda.ins import INS_NIA, INS_NIR, INS_NIR_DEMO, INS_NIR_TEST
from engine.formats.xds.config import XdsMetadataConfig
from engine.tls import TlsVersion


class DmpTlsConfig(ComponentConfig):
    """Mutual TLS towards the DMP: the client certificate is mandatory."""

    cert_file: Path = Field(
        description="PEM client certificate (authentication certificate of the structure).",
        examples=["/etc/passerelle/dmp/auth.crt"],
    )
    key_file: Path = Field(
        description="PEM private key of the client certificate.",
        examples=["/etc/passerelle/dmp/auth.key"],
    )
    ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle that verifies the DMP server; the system store when unset.",
        examples=["/etc/passerelle/dmp/igc-sante-ca.crt"],
    )
    min_version: TlsVersion = Field(
        default="1.2", description="Lowest TLS version offered.", examples=["1.2"]
    )


class CodeConfig(ComponentConfig):
    """A code with its code system and display name."""

    code: str
    system: str
    display: str = ""


class VihfConfig(ComponentConfig):
    """The VIHF SAML 2.0 assertion (authentification indirecte of a structure)."""

    signing_cert_file: Path = Field(
        description="PEM organisation certificate (certificat de cachet) that signs the VIHF.",
        examples=["/etc/passerelle/dmp/cachet.crt"],
    )
    signing_key_file: Path = Field(
        description="PEM private key of the organisation certificate.",
        examples=["/etc/passerelle/dmp/cachet.key"],
    )
    structure_id: str = Field(
        description="Identifiant_Structure: national id of the structure (1+FINESS, 3+SIRET).",
        examples=["1750803447"],
    )
    healthcare_facility_type: str = Field(
        description="Secteur_Activite code (JDV_J61, code system 1.2.250.1.71.4.2.4).",
        examples=["SA01"],
    )
    subject_id: str = Field(
        description="Subject/NameID: id of the person responsible for the automated process.",
        examples=["801234567897"],
    )
    subject_name: str = Field(
        default="Passerelle",
        description="subject-id attribute: software name, model and service.",
        examples=["Passerelle, PFI, DSI"],
    )
    role: CodeConfig = Field(
        default=CodeConfig(code="AUTOMATE", system="1.2.250.1.213.1.1.4.6", display="AUTOMATE"),
        description="subject:role (JDV_J65); AUTOMATE for an automated process.",
    )
    purpose_of_use: str = Field(
        default="normal", description="purposeofuse code (1.2.250.1.213.1.1.4.248)."
    )
    authn_context: str = Field(
        default="urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified",
        description="AuthnContextClassRef of the local authentication.",
    )
    version: str = Field(
        default="3.0", description="VIHF_Version (3.0 in the DMP samples).", examples=["3.0"]
    )
    lps_name: str = Field(default="Passerelle", description="LPS_Nom.")
    lps_version: str = Field(default="0.1.0", description="LPS_Version.")
    lps_id: str = Field(default="", description="LPS_ID (optional).")
    lps_homologation: str = Field(
        min_length=1,
        description="LPS_ID_HOMOLOGATION_DMP: the DMP homologation number of this software "
        "(required: the DMP refuses a feeding without it).",
        examples=["DMP-LPS-2026-0042"],
    )
    validity: Duration = Field(
        default="5m",
        validate_default=True,
        gt=0,
        description="Lifetime of an assertion (Conditions NotOnOrAfter).",
    )


class DmpDestinationConfig(XdsMetadataConfig):
    """Publishes CDA documents to the DMP with ITI-41 (SOAP 1.2, MTOM, WS-Addressing, VIHF)."""

    url: str = Field(
        description="Endpoint of the DMP repository (also the WS-Addressing To).",
        examples=["https://dmp.example/si-dmp-server/v2/services/repository"],
    )
    tls: DmpTlsConfig = Field(description="Mutual TLS settings.")
    vihf: VihfConfig = Field(description="VIHF assertion settings.")
    registry_url: str | None = Field(
        default=None,
        description="Endpoint of the DMP registry for ITI-18 (find a document by uniqueId: "
        "replacing a document published by another system) and ITI-57 (deletion, masking, "
        "archiving). Without it, deletions and updates are refused and an RPLC points at "
        "the entryUUID Passerelle gives the parent.",
        examples=["https://dmp.example/si-dmp-server/v2/services/registry"],
    )
    check_dmp_status: bool = Field(
        default=False,
        description="Ask the DMP (TD0.2) whether the patient's DMP exists and is open before "
        "feeding; a closed or missing DMP is refused with ANS 906. Needs status_url.",
    )
    status_url: str | None = Field(
        default=None,
        description="Base URL of the TD0.2 service (FHIR Patient search by INS).",
        examples=["https://dmp.example/si-dmp-server/v2/fhir"],
    )
    seal_cert_file: Path | None = Field(
        default=None,
        description="PEM seal certificate (certificat de cachet) that signs the submission "
        "set (XAdES-BES, IHE DSG); the VIHF signing certificate when unset.",
        examples=["/etc/passerelle/dmp/cachet.crt"],
    )
    seal_key_file: Path | None = Field(
        default=None, description="PEM private key of seal_cert_file (with it)."
    )
    source_id: str = Field(
        description="XDSSubmissionSet.sourceId: OID of this submitting system.",
        examples=["1.2.250.1.999.1.1"],
    )
    content_type_code: str = Field(
        description="SubmissionSet contentTypeCode (a code of xds_content_type_codes.yaml) when "
        "the payload does not give one (PV1-2 for HL7-carried documents).",
        examples=["07"],
    )
    cda_schema: Path | None = Field(
        default=None,
        description="XSD (e.g. CDA_extended.xsd of the ANS kit) every document must pass.",
    )
    header_rules: Literal["enforce", "warn", "off"] = Field(
        default="enforce",
        description="French header rules: 'enforce' refuses documents with rule errors.",
    )
    accepted_ins_oids: tuple[str, ...] = Field(
        default=(INS_NIR, INS_NIA, INS_NIR_TEST, INS_NIR_DEMO),
        description="INS roots accepted for the DMP: NIR and NIA (the volet accepts both), "
        "and the test/demo NIR roots; remove a root to refuse it.",
    )
    max_document_size: ByteSize = Field(
        default="20MiB", validate_default=True, gt=0, description="Largest CDA accepted."
    )
    max_response_size: ByteSize = Field(
        default="1MiB", validate_default=True, gt=0, description="Largest answer read."
    )
    connect_timeout: Duration = Field(
        default="10s", validate_default=True, gt=0, description="TCP + TLS connect timeout."
    )
    timeout: Duration = Field(
        default="60s", validate_default=True, gt=0, description="Read/write timeout."
    )


__all__ = ["CodeConfig", "DmpDestinationConfig", "DmpTlsConfig", "VihfConfig"]
