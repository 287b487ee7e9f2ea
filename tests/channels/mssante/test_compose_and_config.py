"""Config models of the mssante source and destination, and the mail we compose."""

from __future__ import annotations

import base64
import re
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from channels.mssante.compose import compose, pdf_rendition, qualified_ins, recipients_of
from channels.mssante.config import MssanteDestinationConfig, MssanteSourceConfig
from engine.components import DeliveryContext, Payload
from engine.errors import ChannelError, PermanentDeliveryError
from engine.formats.cda import read_cda
from engine.message import new_id
from engine.registry import lookup
from tests.channels.mssante.builders import PDF, cda

SERVER: dict[str, Any] = {
    "address": "smtp.hopital.test:587",
    "tls": {"cert_file": "client.crt", "key_file": "client.key"},
    "username": "bal@hopital.test.mssante.fr",
    "password": "secret",
}


def destination(**more: Any) -> MssanteDestinationConfig:
    return MssanteDestinationConfig.model_validate(
        {
            "smtp": SERVER,
            "sender": "bal@hopital.test.mssante.fr",
            "nil": "NIL-1",
            "default_facility_type": "SA25",
            "default_practice_setting": "AMBULATOIRE",
            **more,
        }
    )


def context() -> DeliveryContext:
    return DeliveryContext(new_id(), new_id(), "mss_out", 1, "KEY")


def test_both_types_are_registered_under_mssante() -> None:
    source, dest = lookup("source", "mssante"), lookup("destination", "mssante")
    assert source is not None and source.config_model is MssanteSourceConfig
    assert dest is not None and dest.config_model is MssanteDestinationConfig


def test_config_defaults_units_and_refusals() -> None:
    src = MssanteSourceConfig.model_validate({"imap": {**SERVER, "address": "imap.x:993"}})
    assert (src.imap.security, src.poll_interval, src.limits.max_mail_size) == (
        "starttls",
        30.0,
        50 * 1024 * 1024,
    )
    assert "secret" not in repr(src)  # the password is a secret
    for bad in ({"processed_folder": 'a"b'}, {"poll_interval": 30}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            MssanteSourceConfig.model_validate({"imap": SERVER, **bad})
    with pytest.raises(ValidationError):
        destination(trusted_domains=[])


def test_missing_certificate_files_fail_when_the_channel_starts(tmp_path: Path) -> None:
    cfg = destination(
        smtp={**SERVER, "tls": {"cert_file": str(tmp_path / "no.crt"), "key_file": "k"}}
    )
    with pytest.raises(ChannelError, match="cannot load the MSSanté TLS configuration"):
        cfg.smtp.tls.context()


@pytest.mark.parametrize(
    ("to", "error"),
    [
        ("someone@gmail.com", "outside the trusted domains (domain gmail.com)"),
        ("evil@mssante.fr.attacker.example", "outside the trusted domains"),
        ("not an address", "is not a mail address"),
    ],
)
def test_recipients_outside_the_trusted_domains_are_refused(to: str, error: str) -> None:
    cfg = destination(recipients_metadata="mssante.to")
    payload = Payload(cda(), "application/cda+xml", {"mssante.to": to})
    with pytest.raises(PermanentDeliveryError, match=re.escape(error)):
        recipients_of(payload, cfg)


def test_recipients_from_config_and_metadata_are_merged() -> None:
    cfg = destination(to=["a@x.mssante.fr"], recipients_metadata="mssante.to")
    payload = Payload(b"", "application/cda+xml", {"mssante.to": "B@y.mssante.fr; a@X.mssante.fr"})
    assert recipients_of(payload, cfg) == ("a@x.mssante.fr", "B@y.mssante.fr")
    with pytest.raises(PermanentDeliveryError, match="no recipient"):
        recipients_of(Payload(b"", "application/cda+xml"), destination())


def test_the_composed_mail_has_the_mssante_headers() -> None:
    cfg = destination(
        to=["dr@medecin.test.mssante.fr"],
        subject="XDM/1.0/DDM+{title} {family} {given} {birth_date}",
    )
    ctx = context()
    mail = compose(Payload(cda(level=1), "application/cda+xml"), ctx, cfg)
    again = compose(Payload(cda(level=1), "application/cda+xml"), ctx, cfg)
    assert mail.message_id == again.message_id  # stable across retries
    msg = BytesParser(policy=policy.default).parsebytes(mail.message.as_bytes())
    assert (
        msg["Subject"]
        == "XDM/1.0/DDM+Compte rendu d'examens biologiques EXEMPLE Camille 17/05/1984"
    )
    assert (msg["X-MSS-INS"], msg["X-MSS-CODECDA"], msg["X-MSS-NIL"]) == ("O", "11502-2", "NIL-1")
    assert msg["X-MSS-MES"] is None
    assert [p.get_filename() for p in msg.iter_attachments()] == ["IHE_XDM.ZIP", "DOC0001.PDF"]
    with pytest.raises(PermanentDeliveryError, match="not application/hl7-v2"):
        compose(Payload(b"MSH|", "application/hl7-v2"), ctx, cfg)


def test_ins_qualification_and_pdf_renditions() -> None:
    assert qualified_ins(read_cda(cda()))
    assert not qualified_ins(read_cda(cda(with_ins=False)))
    assert pdf_rendition(read_cda(cda(level=1))) == PDF
    assert pdf_rendition(read_cda(cda())) is None
    media = (
        '<entry><observationMedia classCode="OBS" moodCode="EVN">'
        '<value mediaType="application/pdf" '
        f'representation="B64">{base64.b64encode(PDF).decode()}</value></observationMedia></entry>'
    )
    with_copy = cda().replace(b"<text>Glyc", media.encode() + b"<text>Glyc")
    assert pdf_rendition(read_cda(with_copy)) == PDF
