"""SMTP submission (aiosmtplib) and the ``mssante`` destination.

:class:`SmtpSession` keeps one authenticated connection (implicit TLS, or STARTTLS that is
required, never skipped; client certificate; AUTH after TLS) and reuses it while it was
used within ``max_idle`` (checked with NOOP), reconnecting otherwise. A DSN (RFC 3461) is
requested when the server offers the extension: ``RET=HDRS ENVID=<delivery id>`` and
``NOTIFY=...`` on each recipient; ``require_dsn`` refuses servers without it.

Outcomes of a send: every recipient accepted → the server's answer; all refused with 5xx,
a 5xx to MAIL or DATA, some recipients refused → :class:`PermanentDeliveryError` (a
partly delivered mail is never resent on its own: replaying it keeps its Message-ID);
4xx, network, TLS, timeouts, authentication → :class:`RetryableDeliveryError`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import aiosmtplib

from channels.mssante.compose import compose
from channels.mssante.config import MssanteDestinationConfig, ServerConfig
from channels.mssante.recipients import read_allowlist
from engine.components import DeliveryContext, Destination, Payload
from engine.errors import ChannelError, ConfigError, PermanentDeliveryError, RetryableDeliveryError
from engine.formats.xds.tables import XdsTables, load_tables
from engine.registry import destination
from engine.smtp import open_smtp

log = logging.getLogger(__name__)
_MAX_TEXT = 160


def _text(message: str) -> str:
    return " ".join(message.split())[:_MAX_TEXT]


def _classify(exc: Exception, target: str) -> Exception:
    """The engine error for an aiosmtplib/network failure."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = sorted({r.code for r in exc.recipients})
        text = f"{target}: every recipient refused ({', '.join(map(str, codes))})"
        if all(code >= 500 for code in codes):
            return PermanentDeliveryError(text)
        return RetryableDeliveryError(text)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return RetryableDeliveryError(f"{target}: authentication failed ({exc.code})")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"{target}: {exc.code} {_text(exc.message)}"
        return PermanentDeliveryError(text) if exc.code >= 500 else RetryableDeliveryError(text)
    return RetryableDeliveryError(f"{target}: {type(exc).__name__}: {_text(str(exc))}")


class SmtpSession:
    """One reusable SMTP connection; :meth:`send` is serialised by a lock."""

    def __init__(self, config: ServerConfig, *, max_idle: float = 60.0) -> None:
        self.config = config
        self.max_idle = max_idle
        self._lock = asyncio.Lock()
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        self.connections = 0
        """Connections opened so far (a reused connection does not count again)."""

    @property
    def target(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    def check(self) -> None:
        """Load the TLS files now. Raises ChannelError."""
        self.config.tls.context()

    async def _connect(self) -> aiosmtplib.SMTP:
        cfg = self.config
        client = await open_smtp(
            host=cfg.host,
            port=cfg.port,
            security=cfg.security,
            context=cfg.tls.context(),
            timeout=cfg.timeout,
            server_hostname=cfg.tls.server_hostname,
            username=cfg.username,
            password=cfg.password.get_secret_value(),
        )
        self.connections += 1
        return client

    async def _client_for_send(self) -> aiosmtplib.SMTP:
        client = self._client
        if client is not None and client.is_connected:
            if time.monotonic() - self._last_used < self.max_idle:
                try:
                    await client.noop()
                    return client
                except (aiosmtplib.SMTPException, OSError):
                    pass
            await self._drop()
        self._client = await self._connect()
        return self._client

    async def send(
        self,
        message: bytes,
        sender: str,
        recipients: Sequence[str],
        *,
        notify: Sequence[str] = (),
        envelope_id: str | None = None,
        require_dsn: bool = False,
    ) -> tuple[str, bool]:
        """Send one mail; returns the server's answer and whether a DSN was requested.

        Raises:
            PermanentDeliveryError, RetryableDeliveryError: see the module docstring.
            ChannelError: the TLS files cannot be loaded.
        """
        async with self._lock:
            try:
                client = await self._client_for_send()
                dsn = bool(notify) and client.supports_extension("dsn")
                if require_dsn and not dsn:
                    raise PermanentDeliveryError(f"{self.target} does not offer DSN (RFC 3461)")
                mail_options = ["RET=HDRS"] + ([f"ENVID={envelope_id}"] if envelope_id else [])
                errors, answer = await client.sendmail(
                    sender,
                    list(recipients),
                    message,
                    mail_options=mail_options if dsn else [],
                    rcpt_options=[f"NOTIFY={','.join(notify)}"] if dsn else [],
                )
                self._last_used = time.monotonic()
            except (PermanentDeliveryError, ChannelError):
                raise
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await self._drop()
                raise _classify(exc, self.target) from exc
        if errors:
            codes = sorted({response.code for response in errors.values()})
            raise PermanentDeliveryError(
                f"{self.target}: {len(errors)} of {len(recipients)} recipients refused "
                f"({', '.join(map(str, codes))}); the others received the mail"
            )
        return _text(answer), dsn

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        quit_ok = False
        try:
            if client.is_connected:
                await asyncio.wait_for(client.quit(), timeout=2)
                quit_ok = True
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass
        finally:
            transport = client.transport
            if not quit_ok and isinstance(transport, asyncio.Transport):
                # no graceful TLS shutdown left pending after a failed QUIT: a loop that
                # stops meanwhile would leave the socket unclosed (ResourceWarning)
                transport.abort()
            client.close()

    async def close(self) -> None:
        async with self._lock:
            await self._drop()


@destination("mssante", config=MssanteDestinationConfig)
class MssanteDestination(Destination[MssanteDestinationConfig]):
    """Sends each CDA as an MSSanté mail (IHE_XDM.ZIP + PDF, X-MSS-* headers) over SMTP."""

    def __init__(self, name: str, config: MssanteDestinationConfig) -> None:
        super().__init__(name, config)
        self.session = SmtpSession(config.smtp, max_idle=config.max_idle)
        self._allowlist: frozenset[str] | None = None
        self._tables: XdsTables | None = None

    async def open(self) -> None:
        """Check the TLS files, read the allowlist and the tables (ChannelError); the
        connection opens on the first send."""
        self.session.check()
        cfg = self.config
        allowlist = cfg.trusted_domains_file
        self._allowlist = read_allowlist(allowlist) if allowlist is not None else None
        try:
            self._tables = load_tables(cfg.tables_dir)
        except ConfigError as exc:
            raise ChannelError(f"mssante destination '{self.name}': {exc}") from exc

    async def send(self, payload: Payload, context: DeliveryContext) -> str:
        """Compose and send; returns ``Message-ID <...>; N recipient(s); DSN ...; answer``."""
        mail = compose(
            payload, context, self.config, allowlist=self._allowlist, tables=self._tables
        )
        answer, dsn = await self.session.send(
            mail.message.as_bytes(),
            self.config.sender,
            mail.recipients,
            notify=self.config.dsn_notify,
            envelope_id=context.delivery_id,
            require_dsn=self.config.require_dsn,
        )
        log.info(
            "MSSanté mail sent.",
            extra={
                "destination": self.name,
                "delivery_id": context.delivery_id,
                "mail_message_id": mail.message_id,
                "recipients": len(mail.recipients),
            },
        )
        dsn_note = "DSN requested" if dsn else "DSN not offered by the server"
        return (
            f"Message-ID {mail.message_id}; {len(mail.recipients)} recipient(s); "
            f"{dsn_note}; {answer}"
        )

    async def close(self) -> None:
        await self.session.close()


__all__ = ["MssanteDestination", "SmtpSession"]
