"""Building ``ssl.SSLContext`` objects from the MLLP TLS configs, and reading peer identity.

Both builders translate every ``ssl``/``OS`` error (missing file, bad PEM, key mismatch)
into :class:`~engine.errors.ChannelError` so callers never see a library exception.
"""

from __future__ import annotations

import ssl
from typing import Any

from channels.mllp.config import TlsClientConfig, TlsServerConfig, TlsVersion
from engine.errors import ChannelError

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def _minimum(version: TlsVersion) -> ssl.TLSVersion:
    return _VERSIONS[version]


def server_context(config: TlsServerConfig) -> ssl.SSLContext:
    """Context for a listener; client certificates are REQUIRED when ``client_ca_file`` is set.

    Raises:
        ChannelError: a certificate, key or CA file is missing or invalid.
    """
    try:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = _minimum(config.min_version)
        ctx.load_cert_chain(config.cert_file, config.key_file)
        if config.client_ca_file is not None:
            ctx.load_verify_locations(cafile=config.client_ca_file)
            ctx.verify_mode = ssl.CERT_REQUIRED
        else:
            ctx.verify_mode = ssl.CERT_NONE
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ChannelError(f"cannot load the TLS server configuration: {exc}") from exc
    return ctx


def client_context(config: TlsClientConfig) -> ssl.SSLContext:
    """Context for an outbound connection: server certificate and host name always checked.

    Raises:
        ChannelError: a certificate, key or CA file is missing or invalid.
    """
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=config.ca_file)
        ctx.minimum_version = _minimum(config.min_version)
        if config.cert_file is not None and config.key_file is not None:
            ctx.load_cert_chain(config.cert_file, config.key_file)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ChannelError(f"cannot load the TLS client configuration: {exc}") from exc
    return ctx


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
