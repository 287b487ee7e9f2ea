"""Test inputs written for this project: CDA documents of a fictional patient (test INS
root), XDM archives (ours, and one laid out with the quirks of the ANS sample), mails."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from io import BytesIO

from engine.formats.cda import read_cda
from engine.formats.xdm import EntryCodes, OutgoingDocument, build_xdm, metadata_xml

INS = "284057512301231"  # fictional, valid key, under the INS-NIR *test* root
INS_ROOT = "1.2.250.1.213.1.4.10"
STABLE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
UNIQUE = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
PATIENT = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
SS_UNIQUE = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
SIGNATURE = "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def cda(
    doc_id: str = "1.2.250.1.999.1.1.1",
    *,
    extension: str = "DOC0001",
    code: str = "11502-2",
    title: str = "Compte rendu d'examens biologiques",
    level: int = 3,
    with_ins: bool = True,
) -> bytes:
    """A small CDA R2 with a French header; level 1 carries :data:`PDF`."""
    ins = f'<id root="{INS_ROOT}" extension="{INS}"/>' if with_ins else ""
    if level == 1:
        body = (
            '<nonXMLBody><text mediaType="application/pdf" representation="B64">'
            f"{base64.b64encode(PDF).decode()}</text></nonXMLBody>"
        )
    else:
        body = (
            "<structuredBody><component><section><title>Résultats</title>"
            "<text>Glycémie normale.</text></section></component></structuredBody>"
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" classCode="DOCCLIN" moodCode="EVN">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <templateId root="1.2.250.1.213.1.1.1.55" extension="2024.01"/>
  <id root="{doc_id}" extension="{extension}"/>
  <code code="{code}" codeSystem="2.16.840.1.113883.6.1" displayName="{title}"/>
  <title>{title}</title>
  <effectiveTime value="20261120093000+0100"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/>
  <setId root="{doc_id}" extension="SET-{extension}"/>
  <versionNumber value="1"/>
  <recordTarget><patientRole>
    {ins}
    <id root="1.2.250.1.999.1.2" extension="IPP12345"/>
    <patient>
      <name><family qualifier="BR">EXEMPLE</family><given qualifier="BR">Camille</given></name>
      <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
      <birthTime value="19840517"/>
    </patient>
  </patientRole></recordTarget>
  <author><time value="20261120093000+0100"/><assignedAuthor>
    <id root="1.2.250.1.71.4.2.1" extension="899999999999"/>
    <assignedPerson><name><family>MEDECIN</family><given>Test</given></name></assignedPerson>
    <representedOrganization><id root="1.2.250.1.71.4.2.2" extension="1999999999"/>
      <name>Laboratoire Exemple</name></representedOrganization>
  </assignedAuthor></author>
  <custodian><assignedCustodian><representedCustodianOrganization>
    <id root="1.2.250.1.71.4.2.2" extension="1999999999"/><name>Laboratoire Exemple</name>
  </representedCustodianOrganization></assignedCustodian></custodian>
  <component>{body}</component>
</ClinicalDocument>
""".encode()


def our_xdm(*documents: bytes, key: str = "test-submission") -> bytes:
    """An XDM built by our writer, one entry per CDA."""
    parsed = [read_cda(raw) for raw in documents]
    names = [f"DOC{i + 1:04d}.XML" for i in range(len(parsed))]
    metadata = metadata_xml(
        [(d, n, EntryCodes()) for d, n in zip(parsed, names, strict=True)],
        source_id="1.2.250.1.999.1",
        submission_key=key,
        submitted_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
    )
    outgoing = [
        OutgoingDocument(n, d.raw, d.header.title) for d, n in zip(parsed, names, strict=True)
    ]
    return build_xdm(outgoing, metadata, sender="lab@test.mssante.fr", product="tests")


def ans_like_xdm(document: bytes, *, top: str = "KA202601", subset: str = "SS000001") -> bytes:
    """An archive laid out like the ANS sample described in the notes (§4.3): everything in
    a top-level folder, a METADATA.XML with no XML declaration, an undeclared ``ns3:``
    prefix, unqualified elements, the URI relative to ``IHE_XDM/`` and written after the
    ExternalIdentifiers, an identifier with scheme ``1.2.3``, and a signature entry."""
    signature = b"<Signature xmlns='http://www.w3.org/2000/09/xmldsig#'/>"

    def ext(obj: str, scheme: str, value: str, ident: str) -> str:
        return (
            f'<ExternalIdentifier id="{ident}" identificationScheme="{scheme}"'
            f' registryObject="{obj}" value="{value}"/>'
        )

    def slot(name: str, value: object) -> str:
        return f'<Slot name="{name}"><ValueList><Value>{value}</Value></ValueList></Slot>'

    def entry(obj: str, uri: str, content: bytes, unique: str, cls: str) -> str:
        patient = f"{INS}^^^&amp;{INS_ROOT}&amp;ISO^NH"
        return "\n".join(
            [
                f'<ExtrinsicObject id="{obj}" mimeType="text/xml" objectType="{STABLE}">',
                slot("hash", hashlib.sha1(content).hexdigest()),
                slot("size", len(content)),
                '<Name><LocalizedString charset="UTF8" value="Doc" xml:lang="FR"/></Name>',
                f'<Classification classificationScheme="{CLASS}" classifiedObject="{obj}"'
                f' id="c-{obj}" nodeRepresentation="{cls}"/>',
                ext(obj, UNIQUE, unique, f"u-{obj}"),
                ext(obj, PATIENT, patient, f"p-{obj}"),
                slot("URI", uri),  # after the identifiers, as in the sample
                ext(obj, "1.2.3", "3d188b5d", "80"),  # bogus scheme, as in the sample
                "</ExtrinsicObject>",
            ]
        )

    signs = "urn:ihe:iti:2007:AssociationType:signs"
    body = "\n".join(
        [
            '<RegistryPackage id="SubmissionSet01">',
            ext("SubmissionSet01", SS_UNIQUE, "1.2.250.1.999.4.1", "ei3"),
            "</RegistryPackage>",
            entry(
                "Document01", f"{subset}/CDA_1.XML", document, "1.2.250.1.999.1.1.1^DOC0001", "11"
            ),
            entry("Signature01", f"{subset}/SIGN_1.XML", signature, "2.25.1234", SIGNATURE),
            f'<Association associationType="{signs}" id="a1" sourceObject="Signature01"'
            ' targetObject="SubmissionSet01"/>',
        ]
    )
    # no XML declaration, an undeclared prefix, unqualified children
    metadata = (
        f"\n\t\t<ns3:SubmitObjectsRequest>\n<RegistryObjectList>\n{body}\n"
        "</RegistryObjectList>\n\t\t</ns3:SubmitObjectsRequest>\n\t"
    ).encode()
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{top}/INDEX.HTM", b"<html></html>")
        archive.writestr(f"{top}/README.TXT", b"readme")
        archive.writestr(f"{top}/IHE_XDM/{subset}/METADATA.XML", metadata)
        archive.writestr(f"{top}/IHE_XDM/{subset}/CDA_1.XML", document)
        archive.writestr(f"{top}/IHE_XDM/{subset}/SIGN_1.XML", signature)
    return buffer.getvalue()


def mail(
    *,
    xdm: bytes | None = None,
    sender: str = "lab@test.mssante.fr",
    to: str = "passerelle@hopital.test.mssante.fr",
    subject: str = "XDM/1.0/DDM+Compte rendu",
    message_id: str | None = None,
    read_receipt: bool = False,
    pdf: bool = True,
    headers: dict[str, str] | None = None,
) -> bytes:
    """An MSSanté-style mail: a text part, the IHE_XDM.ZIP and optionally a PDF."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="test.mssante.fr")
    msg["X-MSS-CODECDA"] = "11502-2"
    msg["X-MSS-INS"] = "O"
    msg["X-MSS-NIL"] = "TEST-LIS-1.0"
    if read_receipt:
        msg["Disposition-Notification-To"] = sender
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content("Veuillez trouver ci-joint un compte rendu.\n")
    if xdm is not None:
        msg.add_attachment(xdm, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    if pdf:
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="CR.pdf")
    return msg.as_bytes()
