"""Log in, read the session, log out: cookie flags, CSRF, rate limit, audit."""

from __future__ import annotations

import os
import stat

from engine.console.api.bootstrap import PASSWORD_FILE
from engine.store.console import AuditQuery
from tests.support.console import EST_A, PASSWORD, Console


async def test_first_start_creates_admin_with_a_private_password_file(console: Console) -> None:
    path = console.home / PASSWORD_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    password = path.read_text().strip()
    async with console.client() as client:
        answer = await client.post(
            "/api/v1/session", json={"username": "admin", "password": password}
        )
    assert answer.status_code == 200
    assert answer.json()["role"] == "admin" and answer.json()["establishments"] == []


async def test_login_sets_a_strict_httponly_cookie_and_returns_the_csrf_token(
    console: Console,
) -> None:
    await console.add_user("alice", "operator", [EST_A])
    async with console.client() as client:
        answer = await client.post(
            "/api/v1/session", json={"username": "alice", "password": PASSWORD}
        )
        assert answer.status_code == 200
        body = answer.json()
        assert body["user"] == "alice" and body["role"] == "operator"
        assert body["establishments"] == [EST_A] and len(body["csrf_token"]) >= 43
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("passerelle_session=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP: see test_tls for Secure
        # the session reads back with the cookie
        again = await client.get("/api/v1/session")
        assert again.status_code == 200 and again.json() == body
        # logging out needs the CSRF token
        refused = await client.delete("/api/v1/session")
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        out = await client.delete("/api/v1/session", headers={"X-CSRF-Token": body["csrf_token"]})
        assert out.status_code == 204
        assert (await client.get("/api/v1/session")).status_code == 401
    actions = [(e.action, e.outcome) for e in await console.store.audit_entries(AuditQuery())]
    assert ("login", "ok") in actions and ("logout", "ok") in actions


async def test_the_store_keeps_only_a_digest_of_the_cookie(console: Console) -> None:
    await console.add_user("alice", "viewer")
    async with console.client() as client:
        await client.post("/api/v1/session", json={"username": "alice", "password": PASSWORD})
        cookie = client.cookies["passerelle_session"]
    assert await console.store.get_session(cookie) is None
    import hashlib

    digest = hashlib.sha256(cookie.encode()).hexdigest()
    session = await console.store.get_session(digest)
    assert session is not None and session.account == "alice"


async def test_bad_password_is_401_audited_and_rate_limited(console: Console) -> None:
    await console.add_user("alice", "viewer")
    async with console.client() as client:
        for _ in range(5):
            answer = await client.post(
                "/api/v1/session", json={"username": "alice", "password": "wrong password!"}
            )
            assert answer.status_code == 401
            assert answer.json()["status"] == 401
        # the sixth try is refused even with the right password
        blocked = await client.post(
            "/api/v1/session", json={"username": "alice", "password": PASSWORD}
        )
        assert blocked.status_code == 429
    entries = await console.store.audit_entries(AuditQuery(action="login"))
    denied = [e for e in entries if e.outcome == "denied"]
    assert len(denied) == 6
    assert {e.detail for e in denied} == {"bad credentials", "rate limited"}
    assert all("wrong" not in e.detail for e in entries)  # no password in the trail


async def test_a_disabled_account_cannot_log_in(console: Console) -> None:
    from engine.console.api.accounts import update_account
    from tests.support.console import now

    await console.add_user("alice", "viewer")
    await update_account(console.store, "alice", now(), disabled=True)
    async with console.client() as client:
        answer = await client.post(
            "/api/v1/session", json={"username": "alice", "password": PASSWORD}
        )
    assert answer.status_code == 401


async def test_bearer_tokens_skip_csrf_and_are_capped_by_their_role(console: Console) -> None:
    await console.add_user("ops", "operator")
    secret = await console.token("ops", "viewer")
    async with console.client(headers={"Authorization": f"Bearer {secret}"}) as client:
        me = await client.get("/api/v1/session")
        assert me.status_code == 200 and me.json()["role"] == "viewer"
        # a viewer token may not pause, though its account could
        assert (await client.post("/api/v1/destinations/dest_a/pause")).status_code == 403
    ops_token = await console.token("ops", "operator")
    async with console.client(headers={"Authorization": f"Bearer {ops_token}"}) as client:
        answer = await client.post("/api/v1/destinations/dest_a/pause")
        assert answer.status_code == 200, answer.text  # no CSRF header needed
    async with console.client(headers={"Authorization": "Bearer pas_forged"}) as client:
        assert (await client.get("/api/v1/session")).status_code == 401


async def test_a_session_ends_with_its_lifetime(console: Console) -> None:
    from datetime import timedelta

    await console.add_user("alice", "viewer")
    async with console.session("alice") as client:
        assert (await client.get("/api/v1/session")).status_code == 200
        ctx = console.server.ctx
        later = ctx.now() + timedelta(seconds=console.config.console.session_lifetime + 1)
        ctx.now = lambda: later
        assert (await client.get("/api/v1/session")).status_code == 401


async def test_the_listener_disables_nagle_for_the_connections_it_accepts(
    console: Console,
) -> None:
    import socket

    server = console.server._server
    assert server is not None
    (listener,) = server.servers[0].sockets
    assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
