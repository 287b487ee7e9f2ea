"""MSSanté rules of the destination: patient mailboxes bound to the qualified INS, trusted
domains from the ANS allowlist file, METADATA.XML described with the official tables, and
X-MSS-INS following PID-32 when the document came in HL7."""

from __future__ import annotations

import io
import zipfile
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from channels.mssante.compose import compose, source_id_of
from channels.mssante.config import MssanteDestinationConfig
from channels.mssante.recipients import read_allowlist
from channels.mssante.transforms import mssante_from_hl7
from engine.components import DeliveryContext, Payload
from engine.errors import ChannelError, PermanentDeliveryError
from engine.formats.xdm.metadata import read_metadata
from engine.formats.xds import constants as c
from engine.message import HL7V2, Envelope
from tests.channels.mssante.builders import INS, cda
from tests.channels.mssante.test_compose_and_config import destination
from tests.engine.formats.cda.builders import oru

CTX = DeliveryContext("D-1", "M-1", "mss_out", 1, "K-1")
PATIENT = f"{INS}@patient.mssante.fr"


def send(body: bytes, metadata: dict[str, str] | None = None, **config: Any):  # type: ignore[no-untyped-def]
    cfg = destination(**config)
    allowlist = read_allowlist(cfg.trusted_domains_file) if cfg.trusted_domains_file else None
    payload = Payload(body, "application/cda+xml", metadata or {})
    return compose(payload, CTX, cfg, allowlist=allowlist)


def test_a_patient_mailbox_must_be_the_qualified_ins_of_the_documents_patient() -> None:
    mail = send(cda(), to=[PATIENT])
    assert mail.recipients == (PATIENT,) and mail.message["X-MSS-INS"] == "O"
    other = "279035121518989@patient.mssante.fr"
    with pytest.raises(PermanentDeliveryError) as caught:
        send(cda(), to=["dr@medecin.test.mssante.fr", other])
    assert str(caught.value) == (
        "recipient 2 is a patient mailbox and its address is not the qualified INS of the "
        "document's patient"
    )
    assert INS not in str(caught.value) and "279035121518989" not in str(caught.value)
    with pytest.raises(PermanentDeliveryError, match="no qualified INS"):
        send(cda(with_ins=False), to=[PATIENT])


def test_to_patient_builds_the_address_from_the_ins() -> None:
    mail = send(cda(), to=["dr@medecin.test.mssante.fr"], to_patient=True)
    assert mail.recipients == ("dr@medecin.test.mssante.fr", PATIENT)
    with pytest.raises(PermanentDeliveryError, match="to_patient: the document carries no"):
        send(cda(with_ins=False), to=["dr@medecin.test.mssante.fr"], to_patient=True)


@pytest.mark.parametrize(
    "listing",
    [
        "# liste blanche MSSanté\nmedecin.test.mssante.fr\n"
        "patient.mssante.fr  # Mon espace santé\n",
        "<?xml version='1.0'?><listeBlanche><domaine>medecin.test.mssante.fr</domaine>"
        "<domaine>patient.mssante.fr</domaine></listeBlanche>",
    ],
)
def test_the_allowlist_file_decides_the_trusted_domains(tmp_path: Path, listing: str) -> None:
    allowlist = tmp_path / "liste-blanche"
    allowlist.write_text(listing, encoding="utf-8")
    assert read_allowlist(allowlist) == {"medecin.test.mssante.fr", "patient.mssante.fr"}
    ok = send(cda(), to=["dr@MEDECIN.test.mssante.fr"], trusted_domains_file=str(allowlist))
    assert ok.recipients == ("dr@MEDECIN.test.mssante.fr",)
    for outsider in ("x@other.test.mssante.fr", "x@sub.medecin.test.mssante.fr", "x@gmail.com"):
        with pytest.raises(PermanentDeliveryError, match="outside the trusted domains"):
            send(cda(), to=[outsider], trusted_domains_file=str(allowlist))


def test_an_unusable_allowlist_is_a_channel_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("medecin.test.mssante.fr\nnot a domain\n", encoding="utf-8")
    with pytest.raises(ChannelError, match="entry 2 is not a domain name"):
        read_allowlist(bad)
    with pytest.raises(ChannelError, match="cannot read"):
        read_allowlist(tmp_path / "absent")


def _metadata(mail: Any) -> Any:  # the XDM METADATA.XML of a composed mail
    for part in mail.message.iter_attachments():
        if part.get_filename() == "IHE_XDM.ZIP":
            archive = zipfile.ZipFile(io.BytesIO(part.get_content()))
            return read_metadata(archive.read("IHE_XDM/SUBSET01/METADATA.XML")), archive.read(
                "IHE_XDM/SUBSET01/METADATA.XML"
            )
    raise AssertionError("no IHE_XDM.ZIP")


def test_metadata_xml_carries_the_official_codes() -> None:
    meta, raw = _metadata(send(cda(), to=["dr@medecin.test.mssante.fr"]))
    (entry,) = meta.entries
    assert (entry.class_code, entry.type_code, entry.format_code) == (
        "10",
        "11502-2",
        "urn:ihe:lab:xd-lab:2008",
    )
    assert f'classificationScheme="{c.SS_CONTENT_TYPE}"'.encode() in raw
    assert b'nodeRepresentation="SA25"' in raw  # contentTypeCode: the facility type (J03)
    assert meta.source_id == source_id_of(destination()) and meta.source_id.startswith("2.25.")
    assert not meta.source_id.startswith("1.2.250.1.213")  # never an ANS OID
    configured = _metadata(send(cda(), to=["dr@medecin.test.mssante.fr"], source_id="1.2.3.4"))
    assert configured[0].source_id == "1.2.3.4"


def test_a_document_outside_the_official_correspondence_is_refused_with_the_table() -> None:
    odd = cda().replace(b'<templateId root="1.2.250.1.213.1.1.1.55" extension="2024.01"/>', b"")
    with pytest.raises(PermanentDeliveryError, match=r"xds_format_by_template\.yaml \(ASS_A11\)"):
        send(odd, to=["dr@medecin.test.mssante.fr"])


@pytest.mark.parametrize(("pid32", "header"), [("VALI", "O"), ("PROV", "N")])
def test_x_mss_ins_follows_pid_32_when_the_document_came_in_hl7(pid32: str, header: str) -> None:
    message = oru(cda(), pid32=pid32) + (
        b"\rOBX|5|CE|DESTMSSANTEPAT^Patient^MetaDMPMSS||Y^^expandedYes-NoIndicator||||||F"
    )
    envelope = Envelope.new(channel="mllp_in", raw=message, content_type=HL7V2)
    payload = mssante_from_hl7()(envelope)
    cfg = destination(to=["dr@medecin.test.mssante.fr"])
    if pid32 == "VALI":
        mail = compose(payload, CTX, cfg)
        assert mail.message["X-MSS-INS"] == header and PATIENT in mail.recipients
        parsed = BytesParser(policy=policy.default).parsebytes(mail.message.as_bytes())
        assert parsed["X-MSS-INS"] == "O"
    else:  # DESTMSSANTEPAT asked, but PID-32 does not qualify the identity
        with pytest.raises(PermanentDeliveryError, match="no qualified INS"):
            compose(payload, CTX, cfg)
        payload.metadata.pop("mssante.to_patient")
        assert compose(payload, CTX, cfg).message["X-MSS-INS"] == header


def test_config_defaults() -> None:
    cfg = MssanteDestinationConfig.model_validate(
        {"smtp": destination().smtp.model_dump(mode="json"), "sender": "a@b.mssante.fr", "nil": "N"}
    )
    assert cfg.source_id is None and cfg.trusted_domains_file is None and not cfg.to_patient
