"""Accounts, tokens and the audit trail through the API (admin), each change audited."""

from __future__ import annotations

import json

from engine.console.api.auth import LoginLimiter
from engine.store.console import AuditQuery
from tests.support.console import EST_A, EST_B, PASSWORD, Console


async def test_admin_manages_accounts_and_tokens_and_every_change_is_audited(
    console: Console,
) -> None:
    await console.add_user("root", "admin")
    async with console.session("root") as client:
        created = await client.post(
            "/api/v1/accounts",
            json={"name": "nina", "role": "operator", "password": PASSWORD,
                  "establishments": [EST_A]},
        )  # fmt: skip
        assert created.status_code == 200, created.text
        assert created.json()["establishments"] == [EST_A]
        assert "password" not in created.text and "argon2" not in created.text
        twice = await client.post(
            "/api/v1/accounts", json={"name": "nina", "role": "viewer", "password": PASSWORD}
        )
        assert twice.status_code == 422
        bad = await client.post(
            "/api/v1/accounts",
            json={"name": "x", "role": "viewer", "password": PASSWORD, "establishments": ["1"]},
        )
        assert bad.status_code == 422 and "FINESS" in bad.json()["detail"]
        patched = await client.patch("/api/v1/accounts/nina", json={"role": "viewer"})
        assert patched.json()["role"] == "viewer"
        issued = (
            await client.post("/api/v1/tokens", json={"label": "ci", "account": "nina"})
        ).json()
        assert issued["token"].startswith("pas_") and issued["role"] == "viewer"
        listed = (await client.get("/api/v1/tokens")).json()
        assert [t["id"] for t in listed["items"]] == [issued["id"]]
        assert "token" not in listed["items"][0]  # the secret is shown once
        async with console.client(headers={"Authorization": f"Bearer {issued['token']}"}) as bot:
            assert (await bot.get("/api/v1/overview")).status_code == 200
            assert (await client.delete(f"/api/v1/tokens/{issued['id']}")).status_code == 204
            assert (await bot.get("/api/v1/overview")).status_code == 401
        assert (await client.delete("/api/v1/accounts/root")).status_code == 409
        assert (await client.delete("/api/v1/accounts/nina")).status_code == 204
        names = {a["name"] for a in (await client.get("/api/v1/accounts")).json()["items"]}
        assert names == {"admin", "root"}
        export = await client.get("/api/v1/audit/export")
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert export.headers["content-type"].startswith("application/jsonl")
    actions = [(e["action"], e["object"], e["outcome"]) for e in reversed(lines)]
    for expected in [
        ("account.create", "nina", "ok"),
        ("account.create", "nina", "failed"),
        ("account.update", "nina", "ok"),
        ("token.create", f"token:{issued['id']}", "ok"),
        ("token.revoke", f"token:{issued['id']}", "ok"),
        ("account.delete", "nina", "ok"),
    ]:
        assert expected in actions, expected
    assert PASSWORD not in export.text


async def test_a_restricted_admin_manages_only_its_establishments(console: Console) -> None:
    await console.add_user("admin_a", "admin", [EST_A])
    await console.add_user("viewer_b", "viewer", [EST_B])
    async with console.session("admin_a") as client:
        outside = await client.post(
            "/api/v1/accounts",
            json={"name": "y", "role": "viewer", "password": PASSWORD, "establishments": [EST_B]},
        )
        assert outside.status_code == 403
        unrestricted = await client.post(
            "/api/v1/accounts", json={"name": "z", "role": "admin", "password": PASSWORD}
        )
        assert unrestricted.status_code == 403
        assert (await client.patch("/api/v1/accounts/viewer_b", json={})).status_code == 404


async def test_audit_pages_newest_first(console: Console) -> None:
    await console.add_user("root", "admin")
    for _ in range(3):
        async with console.session("root"):
            pass
    async with console.session("root") as client:
        first = (await client.get("/api/v1/audit", params={"limit": 2, "action": "login"})).json()
        second = (
            await client.get(
                "/api/v1/audit", params={"limit": 2, "action": "login", "before": first["next"]}
            )
        ).json()
    ids = [e["id"] for e in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 4
    assert all(e["actor"] == "root" and e["outcome"] == "ok" for e in first["items"])
    assert (await console.store.audit_entries(AuditQuery(action="login")))[0].id == ids[0]


def test_the_login_limiter_forgets_the_oldest_keys_past_its_bound() -> None:
    limiter = LoginLimiter(failures=2, window=3600.0, max_keys=100)
    for i in range(1000):
        limiter.failed(f"client:{i}")
    assert len(limiter) == 100
    limiter.failed("account:alice", "client:x")
    assert not limiter.blocked("account:alice")
    limiter.failed("account:alice")
    assert limiter.blocked("account:alice") and limiter.blocked("client:y", "account:alice")
    limiter.succeeded("account:alice")
    assert not limiter.blocked("account:alice")
