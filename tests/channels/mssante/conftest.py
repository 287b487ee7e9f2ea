"""Fixtures: a dev PKI, one real Dovecot per test module, an aiosmtpd server per test, and
config builders for the ``mssante`` source and destination."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels.mssante.config import MssanteDestinationConfig, MssanteSourceConfig
from engine.pki import DevPki
from tests.support import smtp_server
from tests.support.dovecot import PASSWORD, Dovecot, start_dovecot
from tests.support.smtp_server import SmtpServer, pki, smtp

__all__ = ["pki", "smtp"]


@pytest.fixture(scope="module")
def dovecot(pki: DevPki) -> Iterator[Dovecot]:
    # not tmp_path: pytest's temp root is 0700, and Dovecot runs as nobody when we are root
    server = start_dovecot(Path(tempfile.mkdtemp(prefix="passerelle-dovecot-")), pki)
    yield server
    server.stop()


def tls(pki: DevPki) -> dict[str, Any]:
    return {
        "cert_file": str(pki.client_cert),
        "key_file": str(pki.client_key),
        "ca_file": str(pki.ca_cert),
    }


def imap_server(dovecot: Dovecot, user: str, *, security: str = "tls") -> dict[str, Any]:
    port = dovecot.tls_port if security == "tls" else dovecot.starttls_port
    return {
        "address": f"127.0.0.1:{port}",
        "security": security,
        "tls": tls(dovecot.pki),
        "username": user,
        "password": PASSWORD,
        "timeout": "10s",
    }


def smtp_config(server: SmtpServer, pki: DevPki) -> dict[str, Any]:
    return {
        "address": f"127.0.0.1:{server.port}",
        "security": "starttls",
        "tls": tls(pki),
        "username": smtp_server.USER,
        "password": smtp_server.PASSWORD,
        "timeout": "10s",
    }


def source_config(dovecot: Dovecot, user: str, **more: Any) -> MssanteSourceConfig:
    security = more.pop("security", "tls")
    return MssanteSourceConfig.model_validate(
        {"imap": imap_server(dovecot, user, security=security), "poll_interval": "100ms", **more}
    )


def destination_config(server: SmtpServer, pki: DevPki, **more: Any) -> MssanteDestinationConfig:
    return MssanteDestinationConfig.model_validate(
        {
            "smtp": smtp_config(server, pki),
            "sender": smtp_server.USER,
            "to": ["dr.exemple@medecin.test.mssante.fr"],
            "nil": "PASSERELLE-TEST-0.1",
            "default_facility_type": "SA25",
            "default_practice_setting": "AMBULATOIRE",
            **more,
        }
    )
