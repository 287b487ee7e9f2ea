"""The HTML shell of every dashboard page: heading, navigation and one ES module.

Titles name the page only (never a patient, never an identifier): browser history,
bookmarks and screen sharing see no patient data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""Sent with every page: scripts from the console only, no framing, no referrer."""


@dataclass(frozen=True, slots=True)
class Page:
    """A shell: its ``<title>``/``<h1>`` and the module in ``static/`` that fills it."""

    title: str
    script: str
    nav: bool = True


PAGES: dict[str, Page] = {
    "/": Page("Overview", "overview"),
    "/login": Page("Sign in", "login", nav=False),
    "/messages": Page("Messages", "messages"),
    "/messages/{message_id}": Page("Message", "message"),
    "/audit": Page("Audit trail", "audit"),
    "/admin": Page("Administration", "admin"),
}

_NAV = (
    ("/", "Overview", "overview"),
    ("/messages", "Messages", "messages"),
    ("/audit", "Audit", "audit"),
    ("/admin", "Admin", "admin"),
)


def render(page: Page, *, oidc: bool = False) -> str:
    """The shell's HTML (the same for every user); ``oidc`` tells the sign-in page to offer
    the OpenID Connect login."""
    nav = ""
    if page.nav:
        current = ' aria-current="page"'
        links = "".join(
            f'<li><a href="{href}" data-nav="{key}"'
            f"{current if key == page.script else ''}>{label}</a></li>"
            for href, label, key in _NAV
        )
        nav = (
            f'<nav aria-label="Main"><ul>{links}</ul></nav>'
            '<div id="who" class="who" aria-live="polite"></div>'
        )
    title = escape(page.title)
    flag = ' data-oidc="1"' if oidc else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} · Passerelle console</title>"
        '<link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="/static/console.css">'
        f'<script type="module" src="/static/{page.script}.js"></script>'
        "</head>"
        f'<body data-page="{page.script}"{flag}>'
        '<a class="skip" href="#main">Skip to content</a>'
        f'<header class="top"><a class="brand" href="/">Passerelle</a>{nav}</header>'
        f'<main id="main" tabindex="-1"><h1>{title}</h1>'
        '<div id="app"><p class="loading" role="status">Loading…</p></div>'
        "<noscript><p>This console needs JavaScript.</p></noscript>"
        "</main></body></html>\n"
    )


def page_endpoint(
    page: Page, oidc: Callable[[], bool] = lambda: False
) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint serving ``page`` with :data:`SECURITY_HEADERS`; ``oidc``
    says, per request (the configuration may be reloaded), whether OIDC is configured."""
    bodies = {flag: render(page, oidc=flag) for flag in (False, True)}

    async def endpoint(request: Request) -> Response:
        return HTMLResponse(bodies[oidc()], headers=SECURITY_HEADERS)

    return endpoint
