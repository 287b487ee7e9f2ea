"""The console's web dashboard: small HTML shells and the ES modules they load.

Every page is the same shell (:mod:`engine.console.web.pages`) naming one script in
``static/``; the script asks the JSON API (``/api/v1``) with the session cookie, so the
pages themselves carry no data, patient or otherwise. Nothing is built: the static files
ship in the package as they are in the repository.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from engine.console.context import ConsoleContext
from engine.console.web.pages import PAGES, page_endpoint

STATIC = Path(__file__).resolve().parent / "static"
"""The dashboard's scripts and style sheet, served under ``/static``."""


def routes(ctx: ConsoleContext) -> list[BaseRoute]:
    """The page routes (``/``, ``/login``, ``/messages``, ``/messages/{id}``, ``/audit``,
    ``/admin``) and ``/static``; the pages need no session: their scripts send the user
    to ``/login`` when the API answers 401."""

    def oidc() -> bool:
        return ctx is not None and ctx.config.console.oidc is not None

    pages: list[BaseRoute] = [
        Route(path, page_endpoint(page, oidc), methods=["GET", "HEAD"], name=f"web.{page.script}")
        for path, page in PAGES.items()
    ]
    return [*pages, Mount("/static", StaticFiles(directory=STATIC), name="web.static")]
