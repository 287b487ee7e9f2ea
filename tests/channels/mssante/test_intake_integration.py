"""The mssante source against a real Dovecot (implicit TLS and STARTTLS, client certificates)
inside a real engine (SQLite store, router, file destination)."""

from __future__ import annotations

import asyncio
import email
import io
import os
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from channels.file import FileDestination, FileDestinationConfig
from channels.mssante.source import DONE_FLAG, INTAKE_FLAG, MDN_FLAG, MssanteSource
from engine.app import Engine
from engine.formats.cda import CDA_CONTENT_TYPE
from engine.formats.xdm import read_archive, write_archive
from engine.message import MessageState
from engine.router import CompiledRoute, Router, condition
from engine.store.base import MessageQuery
from engine.store.sqlite import SqliteStore
from tests.channels.mssante.builders import ans_like_xdm, cda, mail, our_xdm
from tests.channels.mssante.conftest import source_config
from tests.support.dovecot import Dovecot
from tests.support.smtp_server import SmtpServer

pytestmark = pytest.mark.integration


def make_engine(tmp_path: Path, source: MssanteSource) -> Engine:
    out = FileDestination("out", FileDestinationConfig(directory=tmp_path / "out"))
    router = Router(
        [CompiledRoute("cda", None, (condition("content_type", CDA_CONTENT_TYPE),), ("out",))]
    )
    return Engine(
        store=SqliteStore(tmp_path / "store.db"),
        router=router,
        sources=[source],
        destinations={"out": out},
        shutdown_grace=0.5,
    )


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    async def loop() -> None:
        while not await check():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(loop(), timeout)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Callable[[MssanteSource], Awaitable[Engine]]]:
    engines: list[Engine] = []

    async def start(source: MssanteSource) -> Engine:
        engine = make_engine(tmp_path, source)
        await engine.start()
        engines.append(engine)
        return engine

    yield start
    for engine in engines:
        await engine.stop()


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_mail_with_xdm_lands_in_the_store_is_routed_and_moved(
    dovecot: Dovecot,
    running: Callable[[MssanteSource], Awaitable[Engine]],
    tmp_path: Path,
    security: str,
) -> None:
    # Given a mail with an XDM carrying a CDA in the applicative mailbox
    user = dovecot.new_user()
    document = cda()
    dovecot.append(user, mail(xdm=our_xdm(document), message_id="<m1@lab.test.mssante.fr>"))
    # When the engine polls it over implicit TLS or STARTTLS with a client certificate
    engine = await running(MssanteSource("mss_in", source_config(dovecot, user, security=security)))

    async def moved() -> bool:
        return len(dovecot.messages(user, "Processed")) == 1

    await eventually(moved)
    # Then the document is in the store, routed, delivered byte for byte
    (stored,) = await engine.store.list_messages(MessageQuery(channel="mss_in"))
    assert stored.envelope.raw == document
    assert stored.envelope.content_type == CDA_CONTENT_TYPE
    meta = stored.envelope.metadata
    assert meta["mssante.message_id"] == "<m1@lab.test.mssante.fr>"
    assert meta["mssante.from"] == "lab@test.mssante.fr"
    assert meta["mssante.subject"] == "XDM/1.0/DDM+Compte rendu"
    assert (meta["mssante.x_mss_codecda"], meta["mssante.x_mss_ins"]) == ("11502-2", "O")
    assert meta["xdm.unique_id"] == "1.2.250.1.999.1.1.1^DOC0001"
    assert meta["cda.type_code"] == "11502-2" and meta["xdm.hash_ok"] == "true"

    async def routed() -> bool:
        return (await engine.store.get_message(stored.envelope.id)).state is MessageState.ROUTED

    await eventually(routed)
    assert [p.read_bytes() for p in (tmp_path / "out").iterdir()] == [document]
    # And the mail left the inbox for the processed folder, unread and marked done
    assert dovecot.messages(user, "INBOX") == []
    (flags,) = dovecot.flags(user, "Processed")
    assert {INTAKE_FLAG, DONE_FLAG} <= flags and "\\Seen" not in flags


async def test_each_document_becomes_a_message_and_the_ans_layout_is_read(
    dovecot: Dovecot, running: Callable[[MssanteSource], Awaitable[Engine]]
) -> None:
    user = dovecot.new_user()
    first, second = cda(), cda("1.2.250.1.999.1.1.2", extension="D2", level=1)
    dovecot.append(user, mail(xdm=our_xdm(first, second), message_id="<two@lab.test.mssante.fr>"))
    dovecot.append(user, mail(xdm=ans_like_xdm(first), message_id="<ans@lab.test.mssante.fr>"))
    engine = await running(MssanteSource("mss_in", source_config(dovecot, user)))

    async def moved() -> bool:
        return len(dovecot.messages(user, "Processed")) == 2

    await eventually(moved)
    stored = await engine.store.list_messages(MessageQuery(channel="mss_in"))
    by_mail: dict[str, list[bytes]] = {}
    for m in stored:
        by_mail.setdefault(m.envelope.metadata["mssante.message_id"], []).append(m.envelope.raw)
    assert sorted(by_mail["<two@lab.test.mssante.fr>"]) == sorted([first, second])
    # the ANS sample layout: top folder, undeclared ns3 prefix, signature entry left out
    assert by_mail["<ans@lab.test.mssante.fr>"] == [first]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (mail(xdm=None, message_id="<noxdm@lab.test.mssante.fr>"), "no IHE_XDM.ZIP"),
        (mail(xdm=b"PK\x03\x04 not really a zip", message_id="<bad@x.mssante.fr>"), "not-zip"),
        (b"\x00\x01garbage without headers", "no headers"),
    ],
)
async def test_a_mail_that_cannot_be_understood_goes_to_the_error_folder(
    dovecot: Dovecot, running: Callable[[MssanteSource], Awaitable[Engine]], raw: bytes, reason: str
) -> None:
    user = dovecot.new_user()
    dovecot.append(user, raw)
    dovecot.append(user, mail(xdm=our_xdm(cda()), message_id="<ok@lab.test.mssante.fr>"))
    engine = await running(MssanteSource("mss_in", source_config(dovecot, user)))

    async def sorted_out() -> bool:
        return (
            len(dovecot.messages(user, "Errors")) == 1
            and len(dovecot.messages(user, "Processed")) == 1
        )

    await eventually(sorted_out)
    (refused,) = await engine.store.list_messages(
        MessageQuery(channel="mss_in", state=MessageState.REJECTED)
    )
    assert reason in refused.reason
    assert refused.envelope.content_type == "message/rfc822"
    (accepted,) = [
        m
        for m in await engine.store.list_messages(MessageQuery(channel="mss_in"))
        if m.state is not MessageState.REJECTED
    ]
    assert accepted.envelope.metadata["mssante.message_id"] == "<ok@lab.test.mssante.fr>"


async def test_read_receipt_requests_are_answered_with_an_mdn(
    dovecot: Dovecot,
    smtp: SmtpServer,
    running: Callable[[MssanteSource], Awaitable[Engine]],
) -> None:
    from tests.channels.mssante.conftest import smtp_config

    user = dovecot.new_user()
    dovecot.append(
        user, mail(xdm=our_xdm(cda()), message_id="<rr@lab.test.mssante.fr>", read_receipt=True)
    )
    dovecot.append(
        user, mail(xdm=None, message_id="<rr-bad@lab.test.mssante.fr>", read_receipt=True)
    )
    mdn = {"sender": "passerelle@hopital.test.mssante.fr", "smtp": smtp_config(smtp, dovecot.pki)}
    await running(MssanteSource("mss_in", source_config(dovecot, user, mdn=mdn)))

    received = await smtp.recorder.wait_for(2)
    reports = {}
    for item in received:
        msg = email.message_from_bytes(item.content, policy=policy.default)
        assert msg.get_content_type() == "multipart/report"
        assert item.rcpt_tos == ("lab@test.mssante.fr",)
        fields = [
            p for p in msg.walk() if p.get_content_type() == "message/disposition-notification"
        ]
        block = fields[0].get_payload()[0]
        reports[block["Original-Message-ID"]] = (str(msg["Subject"]), block["Disposition"])
    _, ok = reports["<rr@lab.test.mssante.fr>"]
    assert ok == "automatic-action/MDN-sent-automatically; processed"
    ko_subject, ko = reports["<rr-bad@lab.test.mssante.fr>"]
    # no IHE_XDM.ZIP: a required element is missing (101), not an internal error (207)
    assert ko.startswith("automatic-action/MDN-sent-automatically; processed/Error: 101^")
    assert ko.endswith("^messageErrorCondition| E^Error^errorSeverity")
    assert ko_subject.startswith("[KO Intégration système !][101]")

    async def moved() -> bool:
        return (
            len(dovecot.messages(user, "Processed")) == 1
            and len(dovecot.messages(user, "Errors")) == 1
        )

    await eventually(moved)
    assert all(
        MDN_FLAG in f for f in dovecot.flags(user, "Processed") + dovecot.flags(user, "Errors")
    )


def bomb_xdm() -> bytes:
    files = read_archive(our_xdm(cda()))
    files["IHE_XDM/SUBSET01/DOC0001.XML"] = b"<a>" + b" " * (20 * 1024 * 1024) + b"</a>"
    return write_archive(files.items())


def traversal_xdm() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in read_archive(our_xdm(cda())).items():
            archive.writestr(name, content)
        archive.writestr("../../etc/cron.d/evil", b"* * * * * root rm -rf /")
    return buffer.getvalue()


def big_mail() -> bytes:
    msg = email.message_from_bytes(
        mail(xdm=our_xdm(cda()), message_id="<big@x.mssante.fr>"), policy=policy.default
    )
    assert isinstance(msg, EmailMessage)
    msg.add_attachment(os.urandom(80_000), maintype="application", subtype="pdf", filename="X.pdf")
    return msg.as_bytes()


BAD_MAILS = {
    "<bomb@x.mssante.fr>": (mail(xdm=bomb_xdm(), message_id="<bomb@x.mssante.fr>"), "bomb"),
    "<trav@x.mssante.fr>": (
        mail(xdm=traversal_xdm(), message_id="<trav@x.mssante.fr>"),
        "unsafe-path",
    ),
    "<big@x.mssante.fr>": (big_mail(), "exceeds the limit of 65536"),
    "<mime@x.mssante.fr>": (
        b"Message-ID: <mime@x.mssante.fr>\r\nFrom: a@x.mssante.fr\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="never-seen"\r\n\r\nno parts at all\r\n',
        "no IHE_XDM.ZIP",
    ),
    "<charset@x.mssante.fr>": (
        mail(xdm=our_xdm(cda()), message_id="<charset@x.mssante.fr>").replace(
            b"Subject: XDM/1.0/DDM+Compte rendu", b"Subject: R\xe9sultat \xe9"
        ),
        "not valid UTF-8",
    ),
}


async def test_bad_mails_are_refused_with_a_reason_and_affect_nothing_else(
    dovecot: Dovecot, running: Callable[[MssanteSource], Awaitable[Engine]]
) -> None:
    user = dovecot.new_user()
    good = cda()
    for raw, _ in BAD_MAILS.values():
        dovecot.append(user, raw)
    dovecot.append(user, mail(xdm=our_xdm(good), message_id="<fine@lab.test.mssante.fr>"))
    limits = {"max_mail_size": "64KiB", "max_ratio": 100}
    engine = await running(MssanteSource("mss_in", source_config(dovecot, user, limits=limits)))

    async def drained() -> bool:
        return len(dovecot.messages(user, "Errors")) == len(BAD_MAILS) and (
            len(dovecot.messages(user, "Processed")) == 1
        )

    await eventually(drained)
    stored = await engine.store.list_messages(MessageQuery(channel="mss_in", limit=None))
    refused = {
        m.envelope.metadata["mssante.message_id"]: m.reason
        for m in stored
        if m.state is MessageState.REJECTED
    }
    assert set(refused) == set(BAD_MAILS)
    for message_id, (_, reason) in BAD_MAILS.items():
        assert reason in refused[message_id], (message_id, refused[message_id])
    (fine,) = [m for m in stored if m.state is not MessageState.REJECTED]
    assert fine.envelope.raw == good
    assert dovecot.messages(user, "INBOX") == []
