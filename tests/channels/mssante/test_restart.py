"""Restart safety of mailbox intake against a real Dovecot: a crash at each point between
the first commit and the move loses no mail and stores no document twice; and a real
engine process SIGKILLed mid-intake does the same after its restart."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

from channels.mssante.imap import ImapMailbox
from channels.mssante.source import DONE_FLAG, INTAKE_FLAG, MssanteSource
from engine.app import Engine
from engine.message import Envelope
from engine.router import Router
from engine.store.base import MessageQuery
from engine.store.sqlite import SqliteStore
from tests.channels.mssante.builders import cda, mail, our_xdm
from tests.channels.mssante.conftest import source_config, tls
from tests.support.dovecot import PASSWORD, Dovecot
from tests.support.engine_process import start_engine

pytestmark = pytest.mark.integration


class Crash(Exception):
    """Stands for the process dying at that point."""


class CrashAfter:
    """The engine's intake, dying right after the n-th commit returned."""

    def __init__(self, engine: Engine, commits: int) -> None:
        self.engine, self.store, self.left = engine, engine.store, commits

    async def accept(
        self, channel: str, raw: bytes, content_type: str, metadata: Mapping[str, str]
    ) -> Envelope:
        envelope = await self.engine.accept(channel, raw, content_type, metadata)
        self.left -= 1
        if self.left == 0:
            raise Crash
        return envelope

    async def reject(
        self, channel: str, raw: bytes, content_type: str, metadata: Mapping[str, str], reason: str
    ) -> Envelope:
        return await self.engine.reject(channel, raw, content_type, metadata, reason)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    running = Engine(
        store=SqliteStore(tmp_path / "store.db"), router=Router([]), shutdown_grace=0.5
    )
    await running.start()
    yield running
    await running.stop()


async def documents(engine: Engine) -> list[str]:
    stored = await engine.store.list_messages(MessageQuery(channel="mss_in", limit=None))
    return sorted(m.envelope.metadata["intake.key"] for m in stored)


TWO_DOCS = (cda(), cda("1.2.250.1.999.1.1.2", extension="D2"))
KEYS = [
    "<crash@lab.test.mssante.fr>#1.2.250.1.999.1.1.1^DOC0001",
    "<crash@lab.test.mssante.fr>#1.2.250.1.999.1.1.2^D2",
]


@pytest.mark.parametrize("commits", [1, 2])
async def test_crash_between_commits_resumes_without_duplicates(
    dovecot: Dovecot, engine: Engine, commits: int
) -> None:
    user = dovecot.new_user()
    dovecot.append(user, mail(xdm=our_xdm(*TWO_DOCS), message_id="<crash@lab.test.mssante.fr>"))
    # Given a run that dies right after its 1st (or 2nd, last) document commit
    first = MssanteSource("mss_in", source_config(dovecot, user))
    await first.attach(CrashAfter(engine, commits))
    with pytest.raises(Crash):
        await first.poll()
    await first.stop()
    assert len(await documents(engine)) == commits
    (flags,) = dovecot.flags(user, "INBOX")
    assert INTAKE_FLAG in flags and DONE_FLAG not in flags
    # When a new run polls the mailbox
    second = MssanteSource("mss_in", source_config(dovecot, user))
    await second.attach(engine)
    assert await second.poll() == 1
    await second.stop()
    # Then each document is stored exactly once and the mail is processed
    assert await documents(engine) == KEYS
    assert dovecot.messages(user, "INBOX") == [] and len(dovecot.messages(user, "Processed")) == 1


@pytest.mark.parametrize("copied", [False, True], ids=["before-move", "move-half-done"])
async def test_crash_after_the_last_commit_before_the_move_completes(
    dovecot: Dovecot, engine: Engine, monkeypatch: pytest.MonkeyPatch, copied: bool
) -> None:
    user = dovecot.new_user()
    dovecot.append(user, mail(xdm=our_xdm(*TWO_DOCS), message_id="<crash@lab.test.mssante.fr>"))

    def die(self: ImapMailbox, uid: int, folder: str) -> None:
        if copied:  # the server copied, then the client died before the expunge
            self.conn.uid("COPY", str(uid), f'"{folder}"')
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(ImapMailbox, "move", die)
        first = MssanteSource("mss_in", source_config(dovecot, user))
        await first.attach(engine)
        with pytest.raises(Crash):
            await first.poll()
        await first.stop()
    (flags,) = dovecot.flags(user, "INBOX")
    assert DONE_FLAG in flags
    assert len(dovecot.messages(user, "Processed")) == int(copied)
    second = MssanteSource("mss_in", source_config(dovecot, user))
    await second.attach(engine)
    assert await second.poll() == 1
    await second.stop()
    assert await documents(engine) == KEYS
    assert dovecot.messages(user, "INBOX") == []
    assert len(dovecot.messages(user, "Processed")) == 1


async def test_without_keyword_support_every_mail_is_checked_against_the_store(
    dovecot: Dovecot, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    select = ImapMailbox.select

    def select_without_keywords(self: ImapMailbox, name: str) -> None:
        select(self, name)
        self.keywords = False  # a server whose PERMANENTFLAGS lacks \\*

    monkeypatch.setattr(ImapMailbox, "select", select_without_keywords)
    user = dovecot.new_user()
    dovecot.append(user, mail(xdm=our_xdm(*TWO_DOCS), message_id="<crash@lab.test.mssante.fr>"))
    first = MssanteSource("mss_in", source_config(dovecot, user))
    await first.attach(CrashAfter(engine, 1))
    with pytest.raises(Crash):
        await first.poll()
    await first.stop()
    (flags,) = dovecot.flags(user, "INBOX")
    assert not flags & {INTAKE_FLAG, DONE_FLAG}  # no keyword could be set
    second = MssanteSource("mss_in", source_config(dovecot, user))
    await second.attach(engine)
    assert await second.poll() == 1
    await second.stop()
    assert await documents(engine) == KEYS


CONFIG = """\
version: 1
engine: {{home: {home}, workers: 2, shutdown_grace: 2s}}
store: {{backend: sqlite, path: {home}/store.db}}
channels:
  mss_in:
    type: mssante
    poll_interval: 50ms
    batch_size: 5
    imap:
      address: 127.0.0.1:{port}
      security: tls
      username: {user}
      password: ${{MSS_PASSWORD}}
      tls: {{cert_file: {cert}, key_file: {key}, ca_file: {ca}}}
destinations:
  out: {{type: file, directory: {home}/out}}
routes:
  - {{name: all, to: [out]}}
"""


def stored_keys(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            rows = conn.execute("SELECT intake_key FROM messages")
            return [str(r[0]) for r in rows]
    except sqlite3.OperationalError:  # the schema is not created yet
        return []


async def test_sigkill_during_intake_loses_no_mail_and_duplicates_no_document(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    user, mails = dovecot.new_user(), 12
    for n in range(mails):
        docs = (
            cda(f"1.2.250.1.999.2.{n}", extension="A"),
            cda(f"1.2.250.1.999.2.{n}", extension="B"),
        )
        dovecot.append(user, mail(xdm=our_xdm(*docs), message_id=f"<kill{n}@lab.test.mssante.fr>"))
    home, log = tmp_path / "home", tmp_path / "engine.log"
    pki_tls = tls(dovecot.pki)
    config = tmp_path / "routes.yaml"
    config.write_text(
        CONFIG.format(
            home=home,
            port=dovecot.tls_port,
            user=user,
            cert=pki_tls["cert_file"],
            key=pki_tls["key_file"],
            ca=pki_tls["ca_file"],
        )
    )
    env = {"MSS_PASSWORD": PASSWORD}
    # Given an engine killed as soon as it committed its first document
    proc = start_engine(config, log, env)
    deadline = time.monotonic() + 30
    while not stored_keys(home / "store.db") and time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        await asyncio.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert stored_keys(home / "store.db"), log.read_text()
    # When it restarts and drains the mailbox
    proc = start_engine(config, log, env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if len(dovecot.messages(user, "Processed")) == mails:
                break
            await asyncio.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log.read_text()[-3000:]
    # Then every mail is processed and every document stored exactly once
    assert dovecot.messages(user, "INBOX") == []
    assert len(dovecot.messages(user, "Processed")) == mails
    keys = stored_keys(home / "store.db")
    assert len(keys) == 2 * mails == len(set(keys))
