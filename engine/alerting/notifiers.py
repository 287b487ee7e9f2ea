"""Where alert notices go: a webhook (JSON POST, optional HMAC signature) or e-mail (SMTP).

A :class:`Notice` holds names, counts, ages and our own error text only (see
:mod:`engine.alerting.rules`). :meth:`Notifier.send` raises
:class:`~engine.errors.DeliveryError` when the notice did not get through; the evaluator
decides what to do about it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import aiosmtplib
import httpx

from engine.config.alerting import AlertSettings, EmailNotifier, SmtpSettings, WebhookNotifier
from engine.config.models import Config
from engine.errors import ConfigError, DeliveryError
from engine.smtp import open_smtp

SIGNATURE_HEADER = "X-Passerelle-Signature"


@dataclass(frozen=True, slots=True)
class Notice:
    """One notice: ``status`` is ``firing`` or ``resolved``; times are ISO 8601 UTC."""

    status: str
    rule: str
    kind: str
    subject: str
    fingerprint: str
    since: str | None
    at: str
    detail: str
    node: str

    def body(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    def title(self) -> str:
        return f"[Passerelle] {self.status.upper()} {self.rule}: {self.subject}"


class Notifier(Protocol):
    name: str

    async def send(self, notice: Notice) -> None: ...

    async def close(self) -> None: ...


class Webhook:
    """POSTs ``notice.body()``; a 2xx answer is success."""

    def __init__(self, name: str, config: WebhookNotifier) -> None:
        self.name = name
        self.config = config
        verify: ssl.SSLContext | bool = True
        if config.ca_file:
            verify = ssl.create_default_context(cafile=config.ca_file)
        self._client = httpx.AsyncClient(timeout=config.timeout, verify=verify)

    async def send(self, notice: Notice) -> None:
        body = notice.body()
        headers = {"Content-Type": "application/json", "User-Agent": "passerelle-alerts"}
        if self.config.secret is not None:
            key = self.config.secret.get_secret_value().encode()
            digest = hmac.new(key, body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        try:
            response = await self._client.post(self.config.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {self.name}: {type(exc).__name__}") from exc
        if not response.is_success:
            raise DeliveryError(f"webhook {self.name}: HTTP {response.status_code}")

    async def close(self) -> None:
        await self._client.aclose()


class Email:
    """One plain-text mail per notice (a fresh SMTP connection each time: notices are rare)."""

    def __init__(self, name: str, config: EmailNotifier, smtp: SmtpSettings) -> None:
        self.name = name
        self.config = config
        self.smtp = smtp

    def _context(self) -> ssl.SSLContext:
        tls = self.smtp.tls
        context = ssl.create_default_context(cafile=tls.ca_file)
        if tls.cert_file and tls.key_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        return context

    async def send(self, notice: Notice) -> None:
        mail = EmailMessage()
        mail["From"] = self.config.sender
        mail["To"] = ", ".join(self.config.to)
        mail["Subject"] = notice.title()
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = make_msgid(domain="passerelle.alerts")
        lines = [f"{key}: {value}" for key, value in asdict(notice).items() if value]
        mail.set_content("\n".join(lines) + "\n")
        smtp = self.smtp
        host, port = smtp.address
        try:
            client = await open_smtp(
                host=host,
                port=port,
                security=smtp.security,
                context=self._context(),
                timeout=smtp.timeout,
                server_hostname=smtp.tls.server_hostname,
                username=smtp.username or None,
                password=None if smtp.password is None else smtp.password.get_secret_value(),
            )
            try:
                await client.send_message(mail)
                await client.quit()
            finally:
                client.close()
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
            raise DeliveryError(f"email {self.name}: {type(exc).__name__}") from exc

    async def close(self) -> None:
        return None


def _smtp_of(config: Config, spec: EmailNotifier) -> SmtpSettings:
    if spec.smtp is not None:
        return spec.smtp
    dest = config.destinations.get(spec.smtp_from or "")
    server = getattr(dest.config, "smtp", None) if dest is not None else None
    if server is None:
        raise ConfigError(f"alerts: {spec.smtp_from!r} is not an mssante destination")
    tls = server.tls
    return SmtpSettings.model_validate(
        {
            "address": f"{server.host}:{server.port}",
            "security": server.security,
            "tls": {
                "ca_file": str(tls.ca_file) if tls.ca_file else None,
                "cert_file": str(tls.cert_file),
                "key_file": str(tls.key_file),
                "server_hostname": tls.server_hostname,
            },
            "username": server.username,
            "password": server.password,
            "timeout": f"{server.timeout}s",
        }
    )


def build_notifiers(config: Config) -> dict[str, Notifier]:
    """The configured notifiers by name. Raises ConfigError (``smtp_from`` not mssante)."""
    settings: AlertSettings = config.alerts
    out: dict[str, Notifier] = {}
    for name, spec in settings.notifiers.items():
        if isinstance(spec, WebhookNotifier):
            out[name] = Webhook(name, spec)
        else:
            out[name] = Email(name, spec, _smtp_of(config, spec))
    return out


__all__ = ["SIGNATURE_HEADER", "Email", "Notice", "Notifier", "Webhook", "build_notifiers"]
