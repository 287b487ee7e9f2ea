"""TLS contexts from the MLLP configs (built by :mod:`engine.tls`), and the peer identity."""

from __future__ import annotations

import ssl
from typing import Any

from channels.mllp.config import TlsClientConfig, TlsServerConfig
from engine import tls


def server_context(config: TlsServerConfig) -> ssl.SSLContext:
    """Context for a listener; client certificates are REQUIRED when ``client_ca_file`` is set.

    Raises:
        ChannelError: a certificate, key or CA file is missing or invalid.
    """
    return tls.server_context(
        cert_file=config.cert_file,
        key_file=config.key_file,
        client_ca_file=config.client_ca_file,
        min_version=config.min_version,
    )


def client_context(config: TlsClientConfig) -> ssl.SSLContext:
    """Context for an outbound connection: server certificate and host name always checked.

    Raises:
        ChannelError: a certificate, key or CA file is missing or invalid.
    """
    return tls.client_context(
        ca_file=config.ca_file,
        cert_file=config.cert_file,
        key_file=config.key_file,
        min_version=config.min_version,
    )


def subject_common_name(peercert: Any) -> str:
    """The subject CN of a certificate as returned by ``SSLSocket.getpeercert()``, or ""."""
    if not isinstance(peercert, dict):
        return ""
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


__all__ = ["client_context", "server_context", "subject_common_name"]
