"""Synthetic French CDA R2 documents written for these tests (no corpus needed).

``cda()`` returns a level-3 CR-BIO-like document that passes the French header rules and
maps to XDS metadata; keyword arguments remove or change one thing at a time.
"""

from __future__ import annotations

import base64

from engine.formats.hl7v2 import DEFAULT_DELIMITERS, escape
from tests.support.corpus import ABSENT, CORPUS

ANS_EXAMPLES = CORPUS / "cda" / "ans" / "ExemplesCDA"
CDA_XSD = CORPUS / "schemas" / "cda-ans" / "CDA_extended.xsd"
XDS_XSD = CORPUS / "schemas" / "xds" / "entry-XDS.b.xsd"
NO_CORPUS = ABSENT
TEST_INS = "279035121518989"  # the CI-SIS test patient (valid NIR key), INS-NIR test root
PDF = b"%PDF-1.4\n% synthetic test document\n%%EOF\n"

_TRAITS = """
        <name>
          <family qualifier="BR">TESTPATIENT</family>
          <given>ALPHA BETA</given>
          <given qualifier="BR">ALPHA</given>
        </name>
        <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
        <birthTime value="19790328"/>
        <birthplace><place><addr><county>51215</county></addr></place></birthplace>"""

_STRUCTURED = """<structuredBody><component><section>
      <code code="30954-2" codeSystem="2.16.840.1.113883.6.1"/><title>Résultats</title>
      <text>Synthetic</text></section></component></structuredBody>"""


def cda(
    *,
    doc_id: str = "1.2.250.1.999.7.1",
    set_id: str = "1.2.250.1.999.7",
    version: int = 1,
    replaces: str | None = None,
    ins: str | None = TEST_INS,
    ins_root: str = "1.2.250.1.213.1.4.10",
    traits: bool = True,
    level: int = 3,
    type_code: str = "11502-2",
    facility: str = "SA25",
    confidentiality: str = "N",
    extra_header: str = "",
) -> bytes:
    """A CDA as bytes (UTF-8). ``level=1`` gives an XDS-SD document with a PDF body."""
    templates = (
        '<templateId root="1.3.6.1.4.1.19376.1.2.20"/>'
        if level == 1
        else '<templateId root="1.3.6.1.4.1.19376.1.3.3"/>'
        '<templateId root="1.2.250.1.213.1.1.1.55" extension="2024.01"/>'
    )
    ins_id = f'<id extension="{ins}" root="{ins_root}"/>' if ins else ""
    related = (
        f'<relatedDocument typeCode="RPLC"><parentDocument><id root="{replaces}"/>'
        "</parentDocument></relatedDocument>"
        if replaces
        else ""
    )
    body = (
        '<nonXMLBody><text mediaType="application/pdf" representation="B64">'
        f"{base64.b64encode(PDF).decode()}</text></nonXMLBody>"
        if level == 1
        else _STRUCTURED
    )
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  {templates}
  <id root="{doc_id}"/>
  <code code="{type_code}" codeSystem="2.16.840.1.113883.6.1" displayName="CR"/>
  <title>Compte rendu de test</title>
  <effectiveTime value="20240104160527+0100"/>
  <confidentialityCode code="{confidentiality}" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/>
  <setId root="{set_id}"/>
  <versionNumber value="{version}"/>
  <recordTarget><patientRole>
      {ins_id}
      <id extension="IPP0001" root="1.2.250.1.999.2"/>
      <patient>{_TRAITS if traits else ""}
      </patient>
  </patientRole></recordTarget>
  <author>
    <time value="20240104160527+0100"/>
    <assignedAuthor>
      <id root="1.2.250.1.71.4.2.1" extension="801234534765"/>
      <code code="G15_10/SM03" displayName="Biologie médicale" codeSystem="1.2.250.1.213.1.1.4.5"/>
      <assignedPerson><name><given>Paul</given><family>AUTEUR</family></name></assignedPerson>
      <representedOrganization>
        <id root="1.2.250.1.71.4.2.2" extension="1120459876"/><name>Labo test</name>
      </representedOrganization>
    </assignedAuthor>
  </author>
  <custodian><assignedCustodian><representedCustodianOrganization>
      <id root="1.2.250.1.71.4.2.2" extension="1120459876"/><name>Labo test</name>
  </representedCustodianOrganization></assignedCustodian></custodian>
  <legalAuthenticator>
    <time value="20240104160527+0100"/><signatureCode code="S"/>
    <assignedEntity><id root="1.2.250.1.71.4.2.1" extension="801234534765"/>
      <assignedPerson><name><given>Paul</given><family>AUTEUR</family></name></assignedPerson>
    </assignedEntity>
  </legalAuthenticator>
  {extra_header}
  <documentationOf><serviceEvent>
      <effectiveTime><low value="20240104080000+0100"/><high value="20240104160000+0100"/>
      </effectiveTime>
      <performer typeCode="PRF"><assignedEntity>
        <id root="1.2.250.1.71.4.2.1" extension="801234534765"/>
        <representedOrganization>
          <standardIndustryClassCode code="AMBULATOIRE" codeSystem="1.2.250.1.213.1.1.4.9"/>
        </representedOrganization>
      </assignedEntity></performer>
  </serviceEvent></documentationOf>
  {related}
  <componentOf><encompassingEncounter>
      <effectiveTime><low value="20240104080000+0100"/></effectiveTime>
      <location><healthCareFacility>
        <code code="{facility}" codeSystem="1.2.250.1.71.4.2.4"/>
      </healthCareFacility></location>
  </encompassingEncounter></componentOf>
  <component>{body}</component>
</ClinicalDocument>
"""
    return text.encode("utf-8")


def oru(
    document: bytes,
    *,
    obx11: str = "F",
    pid32: str = "VALI",
    zfa: str = "",
    inline: bool = False,
    destdmp: str = "Y",
) -> bytes:
    """A synthetic ORU^R01 of the ANS volet carrying ``document``."""
    if inline:
        ed = f"^TEXT^XML^A^{escape(document.decode(), DEFAULT_DELIMITERS)}"
    else:
        ed = "^TEXT^XML^Base64^" + base64.b64encode(document).decode().rstrip("=")
    segments = [
        "MSH|^~\\&|SIL|LABO|PFI|ORG|20240104170000||ORU^R01^ORU_R01|CTRL1|P|2.5|||||FRA|"
        "UNICODE UTF-8|||2.1^CISIS_CDA_HL7_V2",
        f"PID|||{TEST_INS}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS||TEST^A^A^^^^L"
        f"||19790328|F{'|' * 24}{pid32}",
        "PV1|1|O",
        *([zfa] if zfa else []),
        "ORC|NW",
        "OBR|1|||11502-2^CR d'examens biologiques^LN",
        f"OBX|1|ED|11502-2^CR d'examens biologiques^LN||{ed}||||||{obx11}",
        "OBX|2|CE|MASQUE_PS^Masque^MetaDMPMSS||Y^^expandedYes-NoIndicator||||||F",
        f"OBX|3|CE|DESTDMP^Destinataire DMP^MetaDMPMSS||{destdmp}^^expandedYes-NoIndicator||||||F",
        "OBX|4|ED|CORPSMAIL_PS^Corps du mail^MetaDMPMSS||^TEXT^^Base64^Qm9uam91cg==||||||F",
    ]
    return "\r".join(segments).encode("utf-8")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&lol9;</title></ClinicalDocument>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&xxe;</title></ClinicalDocument>
"""

NETWORK_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<ClinicalDocument xmlns="urn:hl7-org:v3"/>
"""

__all__ = [
    "ANS_EXAMPLES",
    "BILLION_LAUGHS",
    "CDA_XSD",
    "EXTERNAL_ENTITY",
    "NETWORK_ENTITY",
    "NO_CORPUS",
    "PDF",
    "TEST_INS",
    "XDS_XSD",
    "cda",
    "oru",
]
