"""The OpenAPI 3.1 document, generated from the route table (:mod:`.routing`) and the
schemas (:mod:`.schemas`): what is served is what is documented."""

from __future__ import annotations

from typing import Any

from engine import __version__
from engine.console.api.routing import ApiRoute
from engine.console.api.schemas import SCHEMAS, ref

_PROBLEM = {"application/problem+json": {"schema": ref("Problem")}}
_ERRORS = {
    "400": "invalid parameters or body",
    "401": "not authenticated",
    "403": "role too weak, or missing CSRF token with a session cookie",
    "404": "absent, or outside the caller's establishments",
    "409": "conflict with the object's state or the configuration",
}


def document(table: list[ApiRoute]) -> dict[str, Any]:
    """The OpenAPI document of ``table``."""
    paths: dict[str, dict[str, Any]] = {}
    for route in table:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Passerelle admin API",
            "version": __version__,
            "description": "Operator console API (see docs/console-api.md). Errors are "
            "RFC 9457 problem documents; no answer carries patient data except the "
            "payload views (operator role, audited).",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "passerelle_session"},
                "token": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def _operation(route: ApiRoute) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": route.summary,
        "operationId": f"{route.method.lower()}_{_slug(route.path)}",
        "tags": list(route.tags),
        "x-role": route.role or "none",
    }
    params = [*route.path_params, *route.params]
    if params:
        op["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.required,
                "description": p.description,
                "schema": {"type": p.type},
            }
            for p in params
        ]
    if route.body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(route.body)}},
        }
    ok: dict[str, Any] = {"description": "success"}
    if route.response:
        ok["content"] = {route.media_type: {"schema": ref(route.response)}}
    elif route.media_type != "application/json":
        ok["content"] = {route.media_type: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(route.status): ok}
    for code, text in _ERRORS.items():
        if route.role is None and code in ("401", "403"):
            continue
        responses[code] = {"description": text, "content": _PROBLEM}
    op["responses"] = responses
    if route.role is not None:
        op["security"] = [{"session": []}, {"token": []}]
    return op


def _slug(path: str) -> str:
    parts = [p.strip("{}") for p in path.removeprefix("/api/v1/").split("/")]
    return "_".join(parts)


__all__ = ["document"]
