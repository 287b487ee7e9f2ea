"""``/api/v1/session``: log in with a password, read the session, log out.

A login creates a session: a 256-bit random cookie (the store keeps its SHA-256) with a
CSRF token the page sends back in ``X-CSRF-Token``. Failed logins are rate limited per
account and per client address, and every attempt is audited (``login``, ok or denied).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from starlette.responses import JSONResponse, Response

from engine.console.api.auth import (
    SESSION_COOKIE,
    digest,
    new_secret,
    verify_password,
)
from engine.console.api.problems import Problem, bad_request, unauthenticated
from engine.console.api.routing import ApiRoute, Call
from engine.console.api.tenancy import Principal, as_role
from engine.errors import NotFound
from engine.store.console import Account, Session


def session_body(principal: Principal) -> dict[str, Any]:
    return {
        "user": principal.name,
        "role": principal.role,
        "establishments": list(principal.establishments),
        "csrf_token": principal.csrf_token,
    }


async def open_session(
    call: Call, account: Account, source: str, response: Response | None = None
) -> Response:
    """Create a session for ``account`` and audit the login; the answer (``response``, by
    default the body of ``GET /session``) carries the cookie."""
    state, now = call.state, call.now()
    lifetime = state.settings.session_lifetime
    cookie, csrf = new_secret(), new_secret()
    session = Session(
        id_hash=digest(cookie),
        account=account.name,
        csrf_token=csrf,
        created_at=now,
        expires_at=now + timedelta(seconds=lifetime),
        source=source,
    )
    await state.ctx.store.purge_sessions(now)
    await state.ctx.store.save_session(session)
    principal = Principal(
        account.name,
        as_role(account.role),
        account.establishments,
        account.name,
        "session",
        "",
        csrf,
    )
    await call.audit("login", account.name, detail=source, actor=account.name)
    response = response or JSONResponse(session_body(principal))
    set_cookie(response, cookie, int(lifetime), secure=state.settings.cookies_secure)
    return response


def set_cookie(response: Response, value: str, max_age: int, *, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )


async def login(call: Call) -> Response:
    body = await call.body()
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise bad_request("give username and password")
    if len(username) > 64 or len(password) > 1024:
        raise bad_request("user name or password too long")
    limiter = call.state.limiter
    keys = (f"account:{username}", f"client:{call.client}")
    if limiter.blocked(*keys):
        await call.audit("login", username, "denied", "rate limited", actor=username)
        raise Problem(429, "too many failed logins: wait a few minutes")
    try:
        account: Account | None = await call.state.ctx.store.get_account(username)
    except NotFound:
        account = None
    hash_ = account.password_hash if account else ""
    # argon2 costs tens of milliseconds of CPU: off the event loop (the engine's, too)
    matches = await asyncio.to_thread(verify_password, hash_, password)
    if not matches or account is None or account.disabled:
        limiter.failed(*keys)
        why = "disabled" if account is not None and account.disabled else "bad credentials"
        await call.audit("login", username, "denied", why, actor=username)
        raise unauthenticated("wrong user name or password")
    limiter.succeeded(keys[0])
    return await open_session(call, account, "local")


async def current(call: Call) -> dict[str, Any]:
    return session_body(call.me)


async def logout(call: Call) -> Response:
    me = call.me
    if me.via == "session":
        await call.state.ctx.store.delete_session(me.session_hash)
        await call.audit("logout", me.name)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def routes() -> list[ApiRoute]:
    return [
        ApiRoute(
            "POST",
            "/api/v1/session",
            login,
            None,
            "Log in with a password",
            "Session",
            body="Login",
            tags=("session",),
        ),
        ApiRoute(
            "GET",
            "/api/v1/session",
            current,
            "viewer",
            "The current session",
            "Session",
            tags=("session",),
        ),
        ApiRoute(
            "DELETE", "/api/v1/session", logout, "viewer", "Log out", None, 204, tags=("session",)
        ),
    ]


__all__ = ["open_session", "routes", "session_body", "set_cookie"]
