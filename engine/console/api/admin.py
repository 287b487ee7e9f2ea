"""Administration (admin role, audited): accounts, API tokens, and the audit trail
(operators read their own entries; admins read and export all).

An admin limited to establishments manages only accounts limited to some of those same
establishments (other accounts answer 404) and reads only the audit entries of those
accounts and their tokens.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

from engine.console.api.accounts import (
    AccountError,
    create_account,
    issue_token,
    revoke_token,
    update_account,
)
from engine.console.api.audit import entry_json
from engine.console.api.problems import Problem, bad_request, not_found
from engine.console.api.routing import ApiRoute, Call, Param, iso
from engine.errors import NotFound
from engine.store.console import Account, ApiToken, AuditQuery


def account_json(account: Account) -> dict[str, Any]:
    return {
        "name": account.name,
        "role": account.role,
        "establishments": list(account.establishments),
        "disabled": account.disabled,
        "source": account.source,
        "created_at": iso(account.created_at),
        "updated_at": iso(account.updated_at),
    }


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "account": token.account,
        "label": token.label,
        "role": token.role,
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
        "last_used_at": iso(token.last_used_at),
        "revoked": token.revoked,
    }


def _manages(call: Call, establishments: tuple[str, ...] | list[str]) -> bool:
    mine = call.me.establishments
    return not mine or (bool(establishments) and set(establishments) <= set(mine))


async def _account(call: Call, name: str) -> Account:
    try:
        account = await call.state.ctx.store.get_account(name)
    except NotFound:
        raise not_found("such account") from None
    if not _manages(call, account.establishments):
        raise not_found("such account")
    return account


def _refused(exc: AccountError) -> Problem:
    return Problem(422, str(exc), title="Unprocessable Content")


async def list_accounts(call: Call) -> dict[str, Any]:
    accounts = await call.state.ctx.store.accounts()
    return {"items": [account_json(a) for a in accounts if _manages(call, a.establishments)]}


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"{name} must be a list of strings")
    return list(value)


async def add_account(call: Call) -> dict[str, Any]:
    body = await call.body()
    name, role, password = body.get("name"), body.get("role", "viewer"), body.get("password")
    if not isinstance(name, str) or not isinstance(role, str):
        raise bad_request("give name and role")
    if password is not None and not isinstance(password, str):
        raise bad_request("password must be a string")
    establishments = _strings(body.get("establishments", []), "establishments")
    if not _manages(call, establishments):
        raise Problem(403, "you may only create accounts within your establishments")
    try:
        account = await create_account(
            call.state.ctx.store, name, role, password, establishments, call.now()
        )
    except AccountError as exc:
        await call.audit("account.create", name, "failed", "refused")
        raise _refused(exc) from None
    await call.audit("account.create", name, detail=f"role={role}")
    return account_json(account)


async def patch_account(call: Call) -> dict[str, Any]:
    account = await _account(call, call.path("name"))
    body = await call.body()
    unknown = set(body) - {"role", "password", "establishments", "disabled"}
    if unknown:
        raise bad_request(f"unknown fields: {', '.join(sorted(unknown))}")
    establishments = (
        _strings(body["establishments"], "establishments") if "establishments" in body else None
    )
    if establishments is not None and not _manages(call, establishments):
        raise Problem(403, "you may only grant your own establishments")
    for key, kind in (("role", str), ("password", str), ("disabled", bool)):
        if key in body and not isinstance(body[key], kind):
            raise bad_request(f"{key} has the wrong type")
    try:
        updated = await update_account(
            call.state.ctx.store,
            account.name,
            call.now(),
            role=body.get("role"),
            password=body.get("password"),
            establishments=establishments,
            disabled=body.get("disabled"),
        )
    except AccountError as exc:
        raise _refused(exc) from None
    await call.audit("account.update", account.name, detail=",".join(sorted(body)))
    return account_json(updated)


async def delete_account(call: Call) -> None:
    account = await _account(call, call.path("name"))
    if account.name == call.me.name:
        raise Problem(409, "you cannot delete your own account")
    await call.state.ctx.store.delete_account(account.name)
    await call.audit("account.delete", account.name)


async def list_tokens(call: Call) -> dict[str, Any]:
    accounts = {a.name: a for a in await call.state.ctx.store.accounts()}
    tokens = [
        t
        for t in await call.state.ctx.store.tokens(call.query("account"))
        if t.account in accounts and _manages(call, accounts[t.account].establishments)
    ]
    return {"items": [token_json(t) for t in tokens]}


async def add_token(call: Call) -> dict[str, Any]:
    body = await call.body()
    owner, label = body.get("account", call.me.name), body.get("label")
    role, expires_in = body.get("role", "viewer"), body.get("expires_in")
    if not isinstance(owner, str) or not isinstance(label, str) or not isinstance(role, str):
        raise bad_request("give label, role and optionally account")
    if expires_in is not None and (not isinstance(expires_in, int) or expires_in <= 0):
        raise bad_request("expires_in is a number of seconds")
    await _account(call, owner)
    try:
        token, secret = await issue_token(
            call.state.ctx.store, owner, label, role, call.now(), expires_in
        )
    except AccountError as exc:
        raise _refused(exc) from None
    await call.audit("token.create", f"token:{token.id}", detail=f"account={owner} role={role}")
    return {**token_json(token), "token": secret}


async def delete_token(call: Call) -> None:
    token_id = call.path("id")
    store = call.state.ctx.store
    tokens = {t.id: t for t in await store.tokens()}
    if token_id not in tokens:
        raise not_found("such token")
    await _account(call, tokens[token_id].account)
    await revoke_token(store, token_id)
    await call.audit("token.revoke", f"token:{token_id}")


def _audit_query(call: Call, limit: int) -> AuditQuery:
    before = call.query("before")
    if before is not None and not before.isdigit():
        raise bad_request("before must be an entry id")
    actor = call.query("actor")
    if not call.me.at_least("admin"):
        actor = call.me.name  # operators read their own entries
    return AuditQuery(
        actor=actor,
        action=call.query("action"),
        object=call.query("object"),
        since=call.query_time("since"),
        until=call.query_time("until"),
        before_id=int(before) if before else None,
        limit=limit,
    )


async def _actors(call: Call) -> set[str] | None:
    """The actors whose entries a restricted admin reads (the accounts it manages and
    their tokens); None: every actor."""
    if not call.me.restricted or not call.me.at_least("admin"):
        return None
    store = call.state.ctx.store
    names = {a.name for a in await store.accounts() if _manages(call, a.establishments)}
    tokens = {f"token:{t.id}" for t in await store.tokens() if t.account in names}
    return names | tokens


async def audit_entries(call: Call) -> dict[str, Any]:
    limit = call.query_int("limit", 100, 1, 500)
    query = _audit_query(call, limit + 1)
    found = await call.state.ctx.store.audit_entries(query)
    more = len(found) > limit
    found = found[:limit]
    actors = await _actors(call)
    shown = [e for e in found if actors is None or e.actor in actors]
    return {
        "items": [entry_json(e) for e in shown],
        "next": str(found[-1].id) if more and found else None,
    }


async def audit_export(call: Call) -> StreamingResponse:
    query = _audit_query(call, 500)
    store = call.state.ctx.store
    actors = await _actors(call)

    async def lines() -> AsyncIterator[bytes]:
        q = query
        while True:
            page = await store.audit_entries(q)
            for entry in page:
                if actors is not None and entry.actor not in actors:
                    continue
                yield (json.dumps(entry_json(entry), ensure_ascii=False) + "\n").encode()
            if len(page) < 500:
                return
            q = AuditQuery(q.actor, q.action, q.object, q.since, q.until, page[-1].id, 500)

    await call.audit("audit.export", "audit")
    return StreamingResponse(lines(), media_type="application/jsonl")


_AUDIT = (
    Param("actor"),
    Param("action"),
    Param("object"),
    Param("since", description="ISO 8601 time"),
    Param("until", description="ISO 8601 time"),
    Param("before", description="cursor: the `next` of the previous page"),
    Param("limit", type="integer", description="page size (100, at most 500)"),
)


def routes() -> list[ApiRoute]:
    tags = ("admin",)
    return [
        ApiRoute(
            "GET", "/api/v1/accounts", list_accounts, "admin", "Accounts", "AccountList", tags=tags
        ),
        ApiRoute(
            "POST",
            "/api/v1/accounts",
            add_account,
            "admin",
            "Create a local account",
            "Account",
            body="AccountCreate",
            audit="account.create",
            tags=tags,
        ),
        ApiRoute(
            "PATCH",
            "/api/v1/accounts/{name}",
            patch_account,
            "admin",
            "Change role, password, establishments or disable",
            "Account",
            body="AccountPatch",
            audit="account.update",
            tags=tags,
        ),
        ApiRoute(
            "DELETE",
            "/api/v1/accounts/{name}",
            delete_account,
            "admin",
            "Delete an account with its tokens and sessions",
            None,
            204,
            audit="account.delete",
            tags=tags,
        ),
        ApiRoute(
            "GET",
            "/api/v1/tokens",
            list_tokens,
            "admin",
            "API tokens",
            "TokenList",
            params=(Param("account"),),
            tags=tags,
        ),
        ApiRoute(
            "POST",
            "/api/v1/tokens",
            add_token,
            "admin",
            "Issue an API token (its secret is shown once)",
            "TokenCreated",
            body="TokenCreate",
            audit="token.create",
            tags=tags,
        ),
        ApiRoute(
            "DELETE",
            "/api/v1/tokens/{id}",
            delete_token,
            "admin",
            "Revoke a token",
            None,
            204,
            audit="token.revoke",
            tags=tags,
        ),
        ApiRoute(
            "GET",
            "/api/v1/audit",
            audit_entries,
            "operator",
            "Audit entries, newest first (operators: their own)",
            "AuditPage",
            params=_AUDIT,
            tags=("audit",),
        ),
        ApiRoute(
            "GET",
            "/api/v1/audit/export",
            audit_export,
            "admin",
            "The audit trail as JSON lines",
            None,
            params=_AUDIT[:5],
            media_type="application/jsonl",
            tags=("audit",),
        ),
    ]


__all__ = ["account_json", "routes", "token_json"]
