"""Building ``ssl.SSLContext`` objects for every channel that speaks TLS.

One place decides how Passerelle does TLS: the system defaults of
:func:`ssl.create_default_context` (certificate and host name always checked on the client
side), a floor of TLS 1.2, and client certificates loaded when given. Channels keep their
own config models (whether a client certificate is optional or mandatory differs) and call
these builders. Every ``ssl``/``OS`` error (missing file, bad PEM, key mismatch) becomes a
:class:`~engine.errors.ChannelError` whose text starts with the caller's ``error`` label.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from engine.errors import ChannelError

TlsVersion = Literal["1.2", "1.3"]
_VERSIONS: dict[str, ssl.TLSVersion] = {
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


def client_context(
    *,
    ca_file: Path | None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    min_version: TlsVersion = "1.2",
    error: str = "cannot load the TLS client configuration",
) -> ssl.SSLContext:
    """Context for an outbound connection; mutual TLS when ``cert_file``/``key_file`` are set.

    Raises:
        ChannelError: a certificate, key or CA file is missing or invalid.
    """
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
        ctx.minimum_version = _VERSIONS[min_version]
        if cert_file is not None and key_file is not None:
            ctx.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ChannelError(f"{error}: {exc}") from exc
    return ctx


def server_context(
    *,
    cert_file: Path,
    key_file: Path,
    client_ca_file: Path | None = None,
    min_version: TlsVersion = "1.2",
    error: str = "cannot load the TLS server configuration",
) -> ssl.SSLContext:
    """Context for a listener; client certificates are REQUIRED when ``client_ca_file`` is set.

    Raises:
        ChannelError: a certificate, key or CA file is missing or invalid.
    """
    try:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = _VERSIONS[min_version]
        ctx.load_cert_chain(cert_file, key_file)
        if client_ca_file is not None:
            ctx.load_verify_locations(cafile=client_ca_file)
            ctx.verify_mode = ssl.CERT_REQUIRED
        else:
            ctx.verify_mode = ssl.CERT_NONE
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ChannelError(f"{error}: {exc}") from exc
    return ctx


__all__ = ["TlsVersion", "client_context", "server_context"]
