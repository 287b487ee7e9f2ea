"""``/api/v1/session/oidc``: send the browser to the provider, and its callback, which
opens a session like a password login (audited ``login`` with detail ``oidc``)."""

from __future__ import annotations

import hmac

from starlette.responses import RedirectResponse, Response

from engine.console.api.accounts import find
from engine.console.api.oidc import OidcClient, OidcError
from engine.console.api.problems import Problem, not_found, unauthenticated
from engine.console.api.routing import ApiRoute, Call, Param
from engine.console.api.session import open_session
from engine.store.console import Account

STATE_COOKIE = "passerelle_oidc"
CALLBACK = "/api/v1/session/oidc/callback"


def _client(call: Call) -> OidcClient:
    if call.state.oidc is None:
        raise not_found("OpenID Connect login (console.oidc is not configured)")
    return call.state.oidc


def _redirect_uri(call: Call) -> str:
    settings = call.state.settings.oidc
    if settings is not None and settings.redirect_uri:
        return settings.redirect_uri
    return str(call.request.base_url).rstrip("/") + CALLBACK


async def begin(call: Call) -> Response:
    try:
        url, state = await _client(call).start(_redirect_uri(call))
    except OidcError as exc:
        raise Problem(502, f"OpenID provider: {exc}") from None
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=600,
        path=CALLBACK,
        httponly=True,
        samesite="lax",
        secure=call.state.settings.cookies_secure,
    )
    return response


async def callback(call: Call) -> Response:
    client = _client(call)
    state, code = call.query("state") or "", call.query("code") or ""
    bound = call.request.cookies.get(STATE_COOKIE, "")
    if not state or not code or not hmac.compare_digest(state, bound):
        await call.audit("login", "oidc", "denied", "state mismatch", actor="anonymous")
        raise unauthenticated("the login did not start here (state mismatch)")
    try:
        user = await client.finish(state, code)
    except OidcError as exc:
        await call.audit("login", "oidc", "denied", str(exc)[:120], actor="anonymous")
        raise unauthenticated(f"OpenID login refused: {exc}") from None
    store, now = call.state.ctx.store, call.now()
    existing = await find(store, user.name)
    if existing is not None and (existing.source != "oidc" or existing.disabled):
        why = "disabled" if existing.disabled else "a local account has this name"
        await call.audit("login", user.name, "denied", why, actor=user.name)
        raise unauthenticated(f"OpenID login refused: {why}")
    account = Account(
        name=user.name,
        role=user.role,
        establishments=user.establishments,
        source="oidc",
        created_at=existing.created_at if existing else now,
        updated_at=now,
    )
    await store.save_account(account)
    response = RedirectResponse("/", status_code=302)
    response.delete_cookie(STATE_COOKIE, path=CALLBACK)
    return await open_session(call, account, "oidc", response)


def routes() -> list[ApiRoute]:
    return [
        ApiRoute(
            "GET",
            "/api/v1/session/oidc",
            begin,
            None,
            "Log in with OpenID Connect: redirects to the provider",
            None,
            302,
            tags=("session",),
        ),
        ApiRoute(
            "GET",
            CALLBACK,
            callback,
            None,
            "The provider's redirect back: opens a session, redirects to /",
            None,
            302,
            params=(Param("code", required=True), Param("state", required=True)),
            tags=("session",),
        ),
    ]


__all__ = ["routes"]
