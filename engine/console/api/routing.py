"""The admin API's route table and the wrapper every handler runs in.

Each :class:`ApiRoute` declares its method, path, minimum role, parameters, body and
response schema names: the same table builds the Starlette routes and the OpenAPI
document (:mod:`.openapi`), so the two cannot drift. The wrapper authenticates (401),
checks the CSRF token of cookie sessions on state-changing methods (403), the role (403),
and turns :class:`~.problems.Problem`, ``NotFound`` and store errors into problem
documents.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from engine.console.api import audit
from engine.console.api.auth import authenticate, client_of
from engine.console.api.problems import Problem, bad_request, forbidden, unauthenticated
from engine.console.api.state import ApiState
from engine.console.api.tenancy import Principal, Scope, role_rank
from engine.errors import NotFound, StoreError

log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True, slots=True)
class Param:
    """A query or path parameter (OpenAPI ``parameters``)."""

    name: str
    where: str = "query"
    type: str = "string"
    description: str = ""
    required: bool = False


@dataclass
class Call:
    """What a handler gets: the request, the shared state, the caller and its scope."""

    request: Request
    state: ApiState
    principal: Principal | None
    _body: Any = None

    @property
    def me(self) -> Principal:
        assert self.principal is not None
        return self.principal

    @property
    def scope(self) -> Scope:
        return Scope(self.state.ctx.config, self.me)

    @property
    def client(self) -> str:
        return client_of(self.request)

    def now(self) -> datetime:
        return self.state.ctx.now()

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query(self, name: str) -> str | None:
        value = self.request.query_params.get(name)
        return value if value not in (None, "") else None

    def query_int(self, name: str, default: int, low: int, high: int) -> int:
        text = self.query(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise bad_request(f"{name} must be an integer") from None
        if not low <= value <= high:
            raise bad_request(f"{name} must be between {low} and {high}")
        return value

    def query_time(self, name: str) -> datetime | None:
        text = self.query(name)
        if text is None:
            return None
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise bad_request(f"{name} must be an ISO 8601 time") from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    async def body(self) -> dict[str, Any]:
        """The JSON object body ({} when empty); 400 when not a JSON object."""
        if self._body is None:
            raw = await self.request.body()
            try:
                self._body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise bad_request("the body is not JSON") from None
            if not isinstance(self._body, dict):
                raise bad_request("the body must be a JSON object")
        return dict(self._body)

    async def audit(
        self, action: str, obj: str, outcome: str = "ok", detail: str = "", actor: str = ""
    ) -> None:
        await audit.record(
            self.state.ctx.store,
            at=self.now(),
            actor=actor or (self.principal.actor if self.principal else "anonymous"),
            action=action,
            object=obj,
            outcome=outcome,
            detail=detail,
            client=self.client,
        )


Handler = Callable[[Call], Awaitable[Response | Mapping[str, Any] | list[Any] | None]]


@dataclass(frozen=True)
class ApiRoute:
    """One endpoint. ``role`` None: no authentication (login, OpenAPI document).
    ``response`` names a schema of :data:`.schemas.SCHEMAS` (None: no body)."""

    method: str
    path: str
    handler: Handler
    role: str | None
    summary: str
    response: str | None = None
    status: int = 200
    params: tuple[Param, ...] = ()
    body: str | None = None
    media_type: str = "application/json"
    tags: tuple[str, ...] = field(default=())
    audit: str = ""
    """The audit action of this route: a caller refused for its role is audited too
    (outcome ``denied``)."""

    @property
    def path_params(self) -> tuple[Param, ...]:
        names = [p.strip("{}") for p in self.path.split("/") if p.startswith("{")]
        return tuple(Param(n, "path", required=True) for n in names)


def starlette_routes(table: list[ApiRoute], state: ApiState) -> list[BaseRoute]:
    """One Starlette route per path, dispatching on the method."""
    by_path: dict[str, dict[str, ApiRoute]] = {}
    for route in table:
        by_path.setdefault(route.path, {})[route.method] = route
    out: list[BaseRoute] = []
    for path, methods in by_path.items():
        out.append(Route(path, _endpoint(methods, state), methods=list(methods)))
    return out


def _endpoint(methods: dict[str, ApiRoute], state: ApiState) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        route = methods[request.method if request.method != "HEAD" else "GET"]
        try:
            return await _run(route, request, state)
        except Problem as problem:
            return problem.response()
        except NotFound:
            return Problem(404, "no such object").response()
        except NotImplementedError:
            return Problem(501, "this store does not support it yet").response()
        except StoreError:
            log.warning("Console request failed on the store.", extra={"path": route.path})
            return Problem(503, "the store is not available").response()
        except Exception:
            log.exception("Console request failed.", extra={"path": route.path})
            return Problem(500, "internal error (see the engine log)").response()

    return endpoint


async def _run(route: ApiRoute, request: Request, state: ApiState) -> Response:
    principal: Principal | None = None
    if route.role is not None:
        principal = await authenticate(state.ctx.store, request, state.ctx.now())
        if principal is None:
            raise unauthenticated()
        if principal.via == "session" and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent or not hmac.compare_digest(sent, principal.csrf_token):
                raise forbidden(f"missing or wrong {CSRF_HEADER} header")
        if role_rank(principal.role) < role_rank(route.role):
            if route.audit:
                call = Call(request, state, principal)
                target = "/".join(str(v) for v in request.path_params.values())
                await call.audit(route.audit, target, "denied", f"role {principal.role}")
            raise forbidden(f"needs the {route.role} role")
    result = await route.handler(Call(request, state, principal))
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status_code=204 if route.status == 200 else route.status)
    return JSONResponse(result, status_code=route.status)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC text (``Z``) or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


__all__ = ["CSRF_HEADER", "ApiRoute", "Call", "Param", "iso", "starlette_routes"]
