"""The mssante destination against a real aiosmtpd (STARTTLS, client certificate, AUTH),
inside a real engine; and receipts (DSN, MDN) read back from a real Dovecot mailbox."""

from __future__ import annotations

import asyncio
import email
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from email import policy
from email.message import EmailMessage, Message
from pathlib import Path

import aiosmtplib
import pytest

from channels.mssante.smtp import MssanteDestination
from channels.mssante.source import MssanteSource
from engine.app import Engine
from engine.formats.cda import CDA_CONTENT_TYPE
from engine.formats.xdm import read_xdm
from engine.message import DeliveryState, Envelope
from engine.retry import RetryPolicy
from engine.router import CompiledRoute, Router, condition
from engine.store.base import MessageQuery
from engine.store.sqlite import SqliteStore
from tests.channels.mssante.builders import PDF, cda
from tests.channels.mssante.conftest import destination_config, source_config
from tests.support import smtp_server
from tests.support.dovecot import Dovecot
from tests.support.smtp_server import SmtpServer

pytestmark = pytest.mark.integration
FAST = RetryPolicy(max_attempts=3, initial_backoff=0.05, max_backoff=0.1)


@pytest.fixture
async def engine_with(
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Awaitable[Engine]]]:
    engines: list[Engine] = []

    async def start(destination: MssanteDestination, *sources: MssanteSource) -> Engine:
        route = CompiledRoute(
            "to_mss", None, (condition("content_type", CDA_CONTENT_TYPE),), (destination.name,)
        )
        engine = Engine(
            store=SqliteStore(tmp_path / "store.db"),
            router=Router([route]),
            sources=list(sources),
            destinations={destination.name: destination},
            default_policy=FAST,
            shutdown_grace=0.5,
        )
        await engine.start()
        engines.append(engine)
        return engine

    yield start
    for engine in engines:
        await engine.stop()


async def delivered(engine: Engine, envelope: Envelope, state: DeliveryState) -> str:
    deadline = time.monotonic() + 30
    last = None
    while time.monotonic() < deadline:
        (last,) = await engine.store.deliveries(envelope.id) or (None,)
        if last is not None and last.state is state:
            return last.detail if state is DeliveryState.SENT else last.last_error
        await asyncio.sleep(0.05)
    raise AssertionError(f"delivery never reached {state}: {last}")


async def test_a_routed_cda_is_mailed_and_unpacks_to_the_same_document(
    smtp: SmtpServer, engine_with: Callable[..., Awaitable[Engine]]
) -> None:
    dest = MssanteDestination("mss_out", destination_config(smtp, smtp.pki, end_of_exchange=True))
    engine = await engine_with(dest)
    document, level1 = cda(), cda("1.2.250.1.999.1.1.9", extension="N1", level=1)
    first = await engine.accept("in", document, CDA_CONTENT_TYPE, {})
    second = await engine.accept("in", level1, CDA_CONTENT_TYPE, {})
    detail = await delivered(engine, first, DeliveryState.SENT)
    await delivered(engine, second, DeliveryState.SENT)
    mails = await smtp.recorder.wait_for(2)
    by_id = {
        email.message_from_bytes(m.content, policy=policy.default)["Message-ID"]: m for m in mails
    }
    message_id = detail.split(";")[0].removeprefix("Message-ID ")
    received = by_id[message_id]
    # the SMTP envelope: our mailbox, the recipient, a DSN request, our client certificate
    assert received.mail_from == smtp_server.USER
    assert received.rcpt_tos == ("dr.exemple@medecin.test.mssante.fr",)
    assert "RET=HDRS" in received.mail_options and "NOTIFY=SUCCESS,FAILURE" in received.rcpt_options
    assert received.peer_cn == "passerelle-client"
    msg = email.message_from_bytes(received.content, policy=policy.default)
    assert msg.get_content_type() == "multipart/mixed"
    assert (msg["X-MSS-CODECDA"], msg["X-MSS-INS"], msg["X-MSS-NIL"], msg["X-MSS-MES"]) == (
        "11502-2",
        "O",
        "PASSERELLE-TEST-0.1",
        "FIN",
    )
    assert msg["Disposition-Notification-To"] == smtp_server.USER
    assert msg["Subject"] == "XDM/1.0/DDM+Compte rendu d'examens biologiques"
    attachments = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
    assert set(attachments) == {"IHE_XDM.ZIP"}  # a level-3 CDA without PDF copy
    package = read_xdm(attachments["IHE_XDM.ZIP"], strict=True)
    assert package.warnings == ()
    (doc,) = package.documents
    assert doc.content == document and doc.path == "IHE_XDM/SUBSET01/DOC0001.XML"
    assert doc.entry.unique_id == "1.2.250.1.999.1.1.1^DOC0001"
    # the level-1 CDA travels with its PDF rendition
    other = next(m for k, m in by_id.items() if k != message_id)
    other_msg = email.message_from_bytes(other.content, policy=policy.default)
    parts = {p.get_filename(): p.get_content() for p in other_msg.iter_attachments()}
    assert parts["DOC0001.PDF"] == PDF
    assert read_xdm(parts["IHE_XDM.ZIP"]).documents[0].content == level1
    assert dest.session.connections == 1  # the connection was reused


async def test_retries_keep_the_message_id_and_refusals_are_permanent(
    smtp: SmtpServer, engine_with: Callable[..., Awaitable[Engine]]
) -> None:
    pki = smtp.pki
    smtp.recorder.defer_data = 1
    smtp.recorder.refuse = {"gone@medecin.test.mssante.fr"}
    dest = MssanteDestination(
        "mss_out", destination_config(smtp, pki, recipients_metadata="mssante.to")
    )
    engine = await engine_with(dest)
    retried = await engine.accept("in", cda(), CDA_CONTENT_TYPE, {})
    detail = await delivered(engine, retried, DeliveryState.SENT)
    (d,) = await engine.store.deliveries(retried.id)
    assert d.attempts == 2 and "451" in d.last_error
    (mail,) = await smtp.recorder.wait_for(1)
    assert email.message_from_bytes(mail.content)["Message-ID"] in detail
    assert detail.split(";")[0].removeprefix("Message-ID ").startswith(f"<{d.id}.")

    outside = await engine.accept("in", cda(), CDA_CONTENT_TYPE, {"mssante.to": "x@gmail.com"})
    assert "outside the trusted domains (domain gmail.com)" in await delivered(
        engine, outside, DeliveryState.DEAD
    )
    partial = await engine.accept(
        "in", cda(), CDA_CONTENT_TYPE, {"mssante.to": "gone@medecin.test.mssante.fr"}
    )
    error = await delivered(engine, partial, DeliveryState.DEAD)
    assert "1 of 2 recipients refused (550)" in error
    not_cda = await engine.accept("in", b"<x/>", CDA_CONTENT_TYPE, {})
    assert "not a usable CDA" in await delivered(engine, not_cda, DeliveryState.DEAD)


async def test_the_server_refuses_a_client_without_certificate(smtp: SmtpServer) -> None:
    pki = smtp.pki
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1",
        port=smtp.port,
        start_tls=False,
        tls_context=ssl.create_default_context(cafile=str(pki.ca_cert)),
        timeout=5,
    )
    await client.connect()
    await client.starttls()
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await client.login(smtp_server.USER, smtp_server.PASSWORD)
    assert refused.value.code == 554
    await client.quit()


def dsn_for(message_id: str, envelope_id: str, action: str, status: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "MAILER-DAEMON@medecin.test.mssante.fr"
    msg["To"] = smtp_server.USER
    msg["Subject"] = "Delivery Status Notification"
    msg["Message-ID"] = f"<dsn.{envelope_id}.{action}@medecin.test.mssante.fr>"
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = 'multipart/report; report-type="delivery-status"'
    human = EmailMessage()
    human.set_content("Your message was delivered.\n")
    msg.attach(human)
    per_message, per_recipient = Message(), Message()
    per_message["Reporting-MTA"] = "dns; mx.test.mssante.fr"
    per_message["Original-Envelope-Id"] = envelope_id
    per_recipient["Final-Recipient"] = "rfc822; dr.exemple@medecin.test.mssante.fr"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    status_part = EmailMessage()
    status_part["Content-Type"] = "message/delivery-status"
    status_part.set_payload([per_message, per_recipient])
    msg.attach(status_part)
    headers = EmailMessage()
    headers["Content-Type"] = "text/rfc822-headers"
    headers.set_payload(f"Message-ID: {message_id}\r\nSubject: x\r\n")
    msg.attach(headers)
    return msg.as_bytes()


def mdn_for(message_id: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "dr.exemple@medecin.test.mssante.fr"
    msg["To"] = smtp_server.USER
    msg["Subject"] = "Accusé de lecture"
    msg["Message-ID"] = "<mdn.reader@medecin.test.mssante.fr>"
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = 'multipart/report; report-type="disposition-notification"'
    human = EmailMessage()
    human.set_content("Lu.\n")
    msg.attach(human)
    report = EmailMessage()
    report["Content-Type"] = "message/disposition-notification"
    report.set_payload(
        "Reporting-UA: mua.test\r\nFinal-Recipient: rfc822;dr.exemple@medecin.test.mssante.fr\r\n"
        f"Original-Message-ID: {message_id}\r\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\r\n"
    )
    msg.attach(report)
    return msg.as_bytes()


async def test_dsn_and_mdn_received_are_matched_to_the_delivery(
    dovecot: Dovecot, smtp: SmtpServer, engine_with: Callable[..., Awaitable[Engine]]
) -> None:
    user = dovecot.new_user()
    dest = MssanteDestination("mss_out", destination_config(smtp, smtp.pki))
    source = MssanteSource("mss_in", source_config(dovecot, user))
    engine = await engine_with(dest, source)
    sent = await engine.accept("in", cda(), CDA_CONTENT_TYPE, {})
    detail = await delivered(engine, sent, DeliveryState.SENT)
    (delivery,) = await engine.store.deliveries(sent.id)
    message_id = detail.split(";")[0].removeprefix("Message-ID ")
    # When the peer's DSN and MDN arrive in our mailbox
    dovecot.append(user, dsn_for(message_id, delivery.id, "delivered", "2.0.0"))
    dovecot.append(user, mdn_for(message_id))
    dovecot.append(user, dsn_for("<unknown@elsewhere.test>", "not-ours", "failed", "5.1.1"))
    deadline = time.monotonic() + 30
    # each check is a new IMAP login: poll gently, beside the engine's own connection
    while len(dovecot.messages(user, "Processed")) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    receipts = await engine.store.list_messages(MessageQuery(channel="mss_in"))
    facts = sorted(
        (
            m.envelope.content_type,
            m.envelope.metadata["mssante.receipt.status"],
            m.envelope.metadata["mssante.receipt.delivery_id"],
            m.envelope.metadata["mssante.receipt.matched"],
        )
        for m in receipts
    )
    # Then each is recorded and names the delivery it is about
    assert facts == [
        ("message/delivery-status", "delivered", delivery.id, "true"),
        ("message/delivery-status", "failed", "", "false"),
        ("message/disposition-notification", "displayed", delivery.id, "true"),
    ]
