"""The console's api routes (see :mod:`engine.console`)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from engine.console.context import ConsoleContext


def routes(ctx: ConsoleContext) -> list[BaseRoute]:
    """The api routes; they read and act through ``ctx``."""
    return []
