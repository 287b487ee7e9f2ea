"""Builds the console's ASGI application from its three route sets."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from engine.console import api, metrics, web
from engine.console.context import ConsoleContext


def build_app(ctx: ConsoleContext) -> Starlette:
    """The console application: probes and metrics, the JSON API, then the web pages.

    The caller owns ``ctx.store`` (opened before, closed after the app serves).
    """
    routes: list[BaseRoute] = [*metrics.routes(ctx), *api.routes(ctx), *web.routes(ctx)]
    app = Starlette(routes=routes)
    app.state.ctx = ctx
    return app
