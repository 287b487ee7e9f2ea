"""The admin API (JSON under ``/api/v1``; see docs/console-api.md).

Modules: :mod:`.routing` (route table and the wrapper: authentication, CSRF, roles,
problem documents), :mod:`.auth` (passwords, sessions, tokens, login limits),
:mod:`.tenancy` (roles and establishments), :mod:`.audit`, one module per area
(:mod:`.session`, :mod:`.oidc_routes`, :mod:`.overview`, :mod:`.messages`,
:mod:`.payloads`, :mod:`.actions`, :mod:`.admin`) and :mod:`.openapi`, generated from the
same table.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from engine.console.api import actions, admin, messages, oidc_routes, overview, payloads, session
from engine.console.api.oidc import OidcClient
from engine.console.api.openapi import document
from engine.console.api.problems import Problem
from engine.console.api.routing import ApiRoute, Call, starlette_routes
from engine.console.api.state import ApiState
from engine.console.context import ConsoleContext


def route_table() -> list[ApiRoute]:
    """Every endpoint of the API, the OpenAPI document's own included."""
    table = [
        *session.routes(),
        *oidc_routes.routes(),
        *overview.routes(),
        *messages.routes(),
        *payloads.routes(),
        *actions.routes(),
        *admin.routes(),
    ]

    async def openapi(call: Call) -> dict[str, Any]:
        return document(table)

    table.append(
        ApiRoute(
            "GET", "/api/v1/openapi.json", openapi, None, "This OpenAPI document", tags=("meta",)
        )
    )
    return table


def routes(ctx: ConsoleContext) -> list[BaseRoute]:
    """The api routes; they read and act through ``ctx``."""
    oidc = ctx.config.console.oidc
    state = ApiState(ctx, oidc=OidcClient(oidc) if oidc is not None else None)
    return [*starlette_routes(route_table(), state), Route(UNKNOWN, _unknown, methods=_ANY)]


UNKNOWN = "/api/v1/{rest:path}"
_ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]


async def _unknown(request: Request) -> Response:
    """Any other path under /api/v1: a problem document, not the web pages' 404."""
    return Problem(404, "no such endpoint (see /api/v1/openapi.json)").response()


__all__ = ["UNKNOWN", "route_table", "routes"]
