"""Opening an SMTP submission connection (aiosmtplib), shared by the ``mssante``
destination and the alert e-mail notifier.

The caller translates aiosmtplib, network and TLS errors into its own engine errors.
"""

from __future__ import annotations

import ssl

import aiosmtplib


async def open_smtp(
    *,
    host: str,
    port: int,
    security: str,
    context: ssl.SSLContext,
    timeout: float,
    server_hostname: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> aiosmtplib.SMTP:
    """Connect with implicit TLS (``security="tls"``) or STARTTLS (``"starttls"``: required,
    never skipped), then log in when ``username`` and ``password`` are given.

    The returned client is connected; the caller closes it. On failure the client is closed
    and the aiosmtplib/OS/TLS error propagates.
    """
    client = aiosmtplib.SMTP(
        hostname=host,
        port=port,
        use_tls=security == "tls",
        start_tls=False,
        tls_context=context,
        timeout=timeout,
    )
    await client.connect()
    try:
        if security == "starttls":
            await client.starttls(tls_context=context, server_hostname=server_hostname or host)
        if username is not None and password is not None:
            await client.login(username, password)
    except BaseException:
        client.close()
        raise
    return client
