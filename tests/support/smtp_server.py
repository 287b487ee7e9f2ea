"""A real SMTP server for tests (aiosmtpd): STARTTLS required, client certificate checked,
AUTH required over TLS, DSN parameters accepted and recorded.

As ``dependencies.md`` §4.2 advises: ``CERT_OPTIONAL`` plus a STARTTLS hook that demands a
peer certificate (the client gets ``554`` rather than a dropped connection), and failed
AUTH returns ``handled=False`` (else aiosmtpd never answers). aiosmtpd knows no DSN
(RFC 3461): the server advertises ``DSN`` and drops ``RET/ENVID/NOTIFY/ORCPT`` from the
parameters it checks (they stay in ``mail_options``/``rcpt_options``, which are recorded).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from engine.pki import DevPki, write_dev_pki
from tests.support.mllp import free_port

USER, PASSWORD = "passerelle@hopital.test.mssante.fr", "smtp-s3cret"
_DSN_PARAMS = ("RET", "ENVID", "NOTIFY", "ORCPT")


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    mail_options: tuple[str, ...]
    rcpt_options: tuple[str, ...]
    content: bytes
    peer_cn: str


@dataclass
class Recorder:
    """The aiosmtpd handler: records mails; can refuse recipients or defer DATA."""

    refuse: set[str] = field(default_factory=set)
    defer_data: int = 0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-DSN", responses[-1]]

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 Mailbox unknown"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.defer_data > 0:
                self.defer_data -= 1
                return "451 4.3.0 Try again later"
            peer = session.ssl.get("peercert") if session.ssl else None
            cn = next(
                (v for rdn in (peer or {}).get("subject", ()) for k, v in rdn if k == "commonName"),
                "",
            )
            content = envelope.original_content or b""
            self.received.append(
                Received(
                    str(envelope.mail_from),
                    tuple(envelope.rcpt_tos),
                    tuple(envelope.mail_options),
                    tuple(envelope.rcpt_options),
                    content,
                    cn,
                )
            )
        return "250 2.0.0 Message accepted for delivery"

    def handle_STARTTLS(self, server: SMTP, session: Session, envelope: Envelope) -> bool:
        return bool(session.ssl and session.ssl.get("peercert"))

    def mails(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    async def wait_for(self, count: int, timeout: float = 15) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mails = self.mails()
            if len(mails) >= count:
                return mails
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {count} mail(s), got {len(self.mails())}")


class _DsnSmtp(SMTP):
    def _getparams(self, params: Sequence[str]) -> dict[str, str | bool] | None:
        result = super()._getparams(params)
        if result is not None:
            for name in _DSN_PARAMS:
                result.pop(name, None)
        return result


class _Controller(Controller):
    """Remembers its sessions so that :meth:`SmtpServer.stop` can close them (aiosmtpd
    leaves open connections behind, which then warn when garbage-collected)."""

    sessions: list[SMTP]

    def factory(self) -> SMTP:
        server = _DsnSmtp(self.handler, **self.SMTP_kwargs)
        self.sessions.append(server)
        return server

    def close_sessions(self) -> None:
        done = threading.Event()

        def close() -> None:
            for server in self.sessions:
                if server.transport is not None:
                    server.transport.close()
            done.set()

        self.loop.call_soon_threadsafe(close)
        done.wait(5)
        time.sleep(0.05)  # let the loop run the connection_lost callbacks


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    controller: _Controller
    recorder: Recorder
    port: int
    pki: DevPki

    def stop(self) -> None:
        self.controller.close_sessions()
        self.controller.stop()


def start_smtp(pki: DevPki) -> SmtpServer:
    """Start the server on a free port of 127.0.0.1 (STARTTLS, client cert, AUTH)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    ctx.load_verify_locations(cafile=str(pki.ca_cert))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    recorder = Recorder()
    port = free_port()
    controller = _Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        tls_context=ctx,
        require_starttls=True,
        authenticator=_authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's own deprecation notes
    controller.sessions = []
    controller.start()
    return SmtpServer(controller, recorder, port, pki)


__all__ = ["PASSWORD", "USER", "Received", "Recorder", "SmtpServer", "start_smtp"]


@pytest.fixture(scope="module")
def pki() -> DevPki:
    """A dev PKI (CA, server and client certificates) per test module; a conftest
    re-exports this fixture where tests need it."""
    return write_dev_pki(tempfile.mkdtemp(prefix="passerelle-pki-"))


@pytest.fixture
def smtp(pki: DevPki) -> Iterator[SmtpServer]:
    """A real SMTP server per test, stopped afterwards."""
    server = start_smtp(pki)
    yield server
    server.stop()
