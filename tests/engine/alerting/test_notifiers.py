"""Notifiers against real servers: e-mail through the SMTP settings of an ``mssante``
destination (``smtp_from``), and a webhook receiver that refuses or is gone."""

from __future__ import annotations

import pytest

from engine.alerting.notifiers import Notice, build_notifiers
from engine.config import load_config_text
from engine.errors import DeliveryError
from engine.pki import DevPki
from tests.support import smtp_server
from tests.support.mllp import free_port
from tests.support.smtp_server import SmtpServer
from tests.support.webhook import WebhookServer

NOTICE = Notice(
    "firing",
    "dmp_down",
    "destination_failing",
    "dmp",
    "dmp_down:dmp",
    "2026-12-03T09:00:00Z",
    "2026-12-03T09:05:00Z",
    "destination dmp: circuit open, 4 waiting",
    "node-a",
)
CONFIG = """\
version: 1
destinations:
  mss:
    type: mssante
    sender: {user}
    to: [dr.exemple@medecin.test.mssante.fr]
    nil: PASSERELLE-TEST-0.1
    default_facility_type: SA25
    default_practice_setting: AMBULATOIRE
    smtp:
      address: "127.0.0.1:{port}"
      security: starttls
      username: {user}
      password: "{password}"
      tls: {{cert_file: "{cert}", key_file: "{key}", ca_file: "{ca}"}}
  hook_target: {{type: file, directory: /tmp/passerelle-notifier-test}}
routes:
  - {{name: all, to: [mss, hook_target]}}
alerts:
  notifiers:
    mail: {{type: email, smtp_from: mss, sender: {user}, to: [astreinte@hopital.test]}}
    hook: {{type: webhook, url: "{url}", timeout: 2s}}
"""


def config_text(smtp: SmtpServer, pki: DevPki, url: str) -> str:
    return CONFIG.format(
        user=smtp_server.USER,
        port=smtp.port,
        password=smtp_server.PASSWORD,
        cert=pki.client_cert,
        key=pki.client_key,
        ca=pki.ca_cert,
        url=url,
    )


async def test_email_reuses_an_mssante_destinations_smtp(smtp: SmtpServer, pki: DevPki) -> None:
    notifiers = build_notifiers(load_config_text(config_text(smtp, pki, "http://127.0.0.1:9/")))
    await notifiers["mail"].send(NOTICE)
    (mail,) = await smtp.recorder.wait_for(1)
    assert mail.rcpt_tos == ("astreinte@hopital.test",)
    assert mail.peer_cn  # the organisation certificate was presented
    assert b"Subject: [Passerelle] FIRING dmp_down: dmp" in mail.content
    assert b"fingerprint: dmp_down:dmp" in mail.content
    for notifier in notifiers.values():
        await notifier.close()


async def test_webhook_failures_name_the_status_or_the_error(smtp: SmtpServer, pki: DevPki) -> None:
    with WebhookServer(status=503) as hook:
        notifiers = build_notifiers(load_config_text(config_text(smtp, pki, hook.url)))
        with pytest.raises(DeliveryError, match=r"^webhook hook: HTTP 503$"):
            await notifiers["hook"].send(NOTICE)
        assert len(hook.received()) == 1
        await notifiers["hook"].close()
    gone = f"http://127.0.0.1:{free_port()}/hook"
    notifiers = build_notifiers(load_config_text(config_text(smtp, pki, gone)))
    with pytest.raises(DeliveryError, match=r"^webhook hook: ConnectError$"):
        await notifiers["hook"].send(NOTICE)
    await notifiers["hook"].close()


async def test_a_refused_mail_is_a_delivery_error(smtp: SmtpServer, pki: DevPki) -> None:
    text = config_text(smtp, pki, "http://127.0.0.1:9/").replace(
        smtp_server.PASSWORD, "wrong-password"
    )
    notifiers = build_notifiers(load_config_text(text))
    with pytest.raises(DeliveryError, match=r"^email mail: SMTPAuthenticationError$"):
        await notifiers["mail"].send(NOTICE)
    assert smtp.recorder.mails() == []
