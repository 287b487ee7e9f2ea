"""The console over TLS and mutual TLS, with certificates from the project's dev PKI
(:mod:`engine.pki`, ``passerelle certs``): Secure cookies, client certificates required."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from engine.pki import write_dev_pki
from engine.store.base import Store
from engine.tls import client_context
from tests.support.console import PASSWORD, running_console


def _tls(pki_dir: Path, *, mutual: bool) -> str:
    pki = write_dev_pki(pki_dir)
    lines = [
        "  tls:",
        f"    cert_file: {pki.server_cert}",
        f"    key_file: {pki.server_key}",
    ]
    if mutual:
        lines.append(f"    client_ca_file: {pki.ca_cert}")
    return "\n".join(lines)


async def test_tls_serves_https_with_a_secure_cookie(tmp_path: Path, store: Store) -> None:
    extra = _tls(tmp_path / "pki", mutual=False)
    async with running_console(tmp_path, store, extra=extra) as console:
        assert console.url.startswith("https://127.0.0.1:")
        await console.add_user("alice", "viewer")
        context = client_context(ca_file=tmp_path / "pki" / "ca.crt")
        async with console.client(verify=context) as client:
            answer = await client.post(
                "/api/v1/session", json={"username": "alice", "password": PASSWORD}
            )
            assert answer.status_code == 200
            cookie = answer.headers["set-cookie"]
            assert "Secure" in cookie and "HttpOnly" in cookie
            # the browser sends it back over https
            assert (await client.get("/api/v1/session")).status_code == 200
        # plain HTTP on the TLS port gets no answer from the API
        plain = console.url.replace("https://", "http://")
        async with httpx.AsyncClient(base_url=plain) as client:
            with pytest.raises(httpx.TransportError):
                await client.get("/api/v1/openapi.json")


async def test_mutual_tls_requires_a_client_certificate(tmp_path: Path, store: Store) -> None:
    extra = _tls(tmp_path / "pki", mutual=True)
    pki = tmp_path / "pki"
    async with running_console(tmp_path, store, extra=extra) as console:
        with_cert = client_context(
            ca_file=pki / "ca.crt", cert_file=pki / "client.crt", key_file=pki / "client.key"
        )
        async with console.client(verify=with_cert) as client:
            answer = await client.get("/api/v1/openapi.json")
            assert answer.status_code == 200
        without = client_context(ca_file=pki / "ca.crt")
        async with console.client(verify=without) as client:
            with pytest.raises(httpx.TransportError):
                await client.get("/api/v1/openapi.json")
        # a certificate from another CA is refused too
        other = write_dev_pki(tmp_path / "other")
        foreign = client_context(
            ca_file=pki / "ca.crt", cert_file=other.client_cert, key_file=other.client_key
        )
        async with console.client(verify=foreign) as client:
            with pytest.raises(httpx.TransportError):
                await client.get("/api/v1/openapi.json")
