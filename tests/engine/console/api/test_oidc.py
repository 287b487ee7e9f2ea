"""OpenID Connect login against a real local provider (tests.support.oidc_provider):
authorization code + PKCE, discovery, RS256 signature checked on the JWKS, role and
establishments mapped from claims; forged tokens, nonce and state mismatches refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from engine.store.base import Store
from engine.store.console import AuditQuery
from tests.support.console import EST_A, Console, running_console
from tests.support.mllp import free_port
from tests.support.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    Provider,
    node_login,
    running_node_provider,
    running_provider,
)


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    async with running_provider() as p:
        p.claims = {
            "preferred_username": "jdupont",
            "realm_access": {"roles": ["gradues-ops", "other"]},
            "finess": [EST_A],
        }
        yield p


@pytest.fixture
async def oidc_console(tmp_path: Path, store: Store, provider: Provider) -> AsyncIterator[Console]:
    extra = f"""  oidc:
    issuer: {provider.issuer}
    client_id: {CLIENT_ID}
    client_secret: {CLIENT_SECRET}
    role_claim: realm_access.roles
    role_map: {{gradues-ops: operator, gradues-admins: admin}}
    establishments_claim: finess
"""
    async with running_console(tmp_path, store, extra=extra) as console:
        yield console


async def login(console: Console) -> tuple[httpx.AsyncClient, httpx.Response]:
    """Run the browser's part of the flow; returns the client and the callback's answer."""
    client = console.client()
    start = await client.get("/api/v1/session/oidc")
    assert start.status_code == 302, start.text
    async with httpx.AsyncClient() as browser:
        at_provider = await browser.get(start.headers["location"])
    assert at_provider.status_code == 302
    callback = at_provider.headers["location"]
    assert callback.startswith(console.url + "/api/v1/session/oidc/callback?")
    return client, await client.get(callback)


async def test_oidc_login_opens_a_session_with_the_mapped_role_and_establishments(
    oidc_console: Console,
) -> None:
    client, answer = await login(oidc_console)
    try:
        assert answer.status_code == 302 and answer.headers["location"] == "/"
        me = (await client.get("/api/v1/session")).json()
    finally:
        await client.aclose()
    assert (me["user"], me["role"], me["establishments"]) == ("jdupont", "operator", [EST_A])
    account = await oidc_console.store.get_account("jdupont")
    assert account.source == "oidc" and account.password_hash == ""
    (entry,) = await oidc_console.store.audit_entries(AuditQuery(action="login"))
    assert (entry.actor, entry.outcome, entry.detail) == ("jdupont", "ok", "oidc")


async def test_a_token_signed_with_a_foreign_key_is_refused(
    oidc_console: Console, provider: Provider
) -> None:
    provider.sign_with_foreign_key = True
    client, answer = await login(oidc_console)
    try:
        assert answer.status_code == 401
        assert (await client.get("/api/v1/session")).status_code == 401
    finally:
        await client.aclose()
    (entry,) = await oidc_console.store.audit_entries(AuditQuery(action="login"))
    assert entry.outcome == "denied" and "InvalidSignatureError" in entry.detail


async def test_a_wrong_nonce_an_unmapped_role_or_a_local_name_is_refused(
    oidc_console: Console, provider: Provider
) -> None:
    provider.nonce_override = "replayed"
    client, answer = await login(oidc_console)
    await client.aclose()
    assert answer.status_code == 401 and "nonce" in answer.json()["detail"]
    provider.nonce_override = None
    provider.claims["realm_access"] = {"roles": ["nurses"]}
    client, answer = await login(oidc_console)
    await client.aclose()
    assert answer.status_code == 401 and "no console role" in answer.json()["detail"]
    provider.claims["realm_access"] = {"roles": ["gradues-admins"]}
    await oidc_console.add_user("jdupont", "viewer")
    client, answer = await login(oidc_console)
    await client.aclose()
    assert answer.status_code == 401 and "local account" in answer.json()["detail"]


async def test_a_callback_without_the_login_cookie_is_refused(
    oidc_console: Console,
) -> None:
    async with oidc_console.client() as client:
        start = await client.get("/api/v1/session/oidc")
        async with httpx.AsyncClient() as browser:
            callback = (await browser.get(start.headers["location"])).headers["location"]
    async with oidc_console.client() as stranger:  # another browser: no state cookie
        answer = await stranger.get(callback)
    assert answer.status_code == 401 and "state" in answer.json()["detail"]


async def test_without_oidc_settings_the_oidc_routes_are_404(console: Console) -> None:
    async with console.client() as client:
        assert (await client.get("/api/v1/session/oidc")).status_code == 404


async def test_login_through_the_npm_oidc_provider(tmp_path: Path, store: Store) -> None:
    """The same flow against a real third-party provider (npm ``oidc-provider``): its
    discovery, its own signing keys, PKCE required, its login page."""
    provider_port = free_port()
    extra = f"""  oidc:
    issuer: http://127.0.0.1:{provider_port}
    client_id: {CLIENT_ID}
    client_secret: {CLIENT_SECRET}
    role_claim: realm_access.roles
    role_map: {{gradues-ops: operator}}
    establishments_claim: finess
"""
    claims = {"realm_access": {"roles": ["gradues-ops"]}, "finess": [EST_A]}
    async with running_console(tmp_path, store, extra=extra) as console:
        callback = console.url + "/api/v1/session/oidc/callback"
        async with (
            running_node_provider(provider_port, callback, claims),
            console.client() as client,
        ):
            start = await client.get("/api/v1/session/oidc")
            assert start.status_code == 302, start.text
            back = await node_login(start.headers["location"], callback, "mmartin")
            done = await client.get(back)
            assert done.status_code == 302, done.text
            me = (await client.get("/api/v1/session")).json()
    assert (me["user"], me["role"], me["establishments"]) == ("mmartin", "operator", [EST_A])
