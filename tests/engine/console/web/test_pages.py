"""The dashboard's pages and static files, served over a real socket: every page is a
shell with its security headers and one module, every module it imports is served, and
nothing is fetched from outside the console (no CDN, no build step)."""

from __future__ import annotations

import asyncio
import fnmatch
import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from engine.config.loader import load_config_text
from engine.console import web
from engine.console.context import ConsoleContext
from engine.console.web.pages import PAGES
from tests.support.corpus import REPO

STATIC = Path(web.__file__).parent / "static"
IMPORT = re.compile(r"""^import\s.*?from\s+["'](\./[^"']+)["'];""", re.M | re.S)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=web.routes(ctx=None))  # type: ignore[arg-type]  # pages need none
    server = uvicorn.Server(uvicorn.Config(app, port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        yield c
    server.should_exit = True
    await task


async def test_every_page_is_a_shell_with_security_headers(client: httpx.AsyncClient) -> None:
    for path, page in PAGES.items():
        resp = await client.get(path.replace("{message_id}", "01JDEMO0000000000000000000"))
        assert resp.status_code == 200, path
        assert resp.headers["content-type"].startswith("text/html")
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["cache-control"] == "no-store"
        html = resp.text
        assert f"<title>{page.title} · Passerelle console</title>" in html
        assert f'src="/static/{page.script}.js"' in html
        assert '<html lang="en">' in html and '<main id="main"' in html
        assert "<script>" not in html  # no inline script: the CSP forbids it


async def test_modules_and_their_imports_are_served_as_javascript(
    client: httpx.AsyncClient,
) -> None:
    scripts = {p.script for p in PAGES.values()}
    seen: set[str] = set()
    todo = [f"{s}.js" for s in scripts]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        resp = await client.get(f"/static/{name}")
        assert resp.status_code == 200, name
        assert "javascript" in resp.headers["content-type"], name
        todo += [m[2:] for m in IMPORT.findall(resp.text)]
    assert {"api.js", "ui.js", "layout.js"} <= seen
    css = await client.get("/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert (await client.get("/static/../pages.py")).status_code == 404


def test_static_files_reference_nothing_outside_the_console() -> None:
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        urls = re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'`)]*", text)
        assert [u for u in urls if "www.w3.org/2000/svg" not in u] == [], path.name


def test_every_static_file_ships_in_the_wheel() -> None:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]["engine.console.web"]
    for path in STATIC.iterdir():
        rel = f"static/{path.name}"
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), rel


async def test_the_sign_in_page_offers_single_sign_on_only_when_configured(tmp_path: Path) -> None:
    from engine.console.web.pages import page_endpoint

    base = f"version: 1\nengine: {{home: {tmp_path}}}\n"
    oidc = (
        "console: {oidc: {issuer: 'https://sso.example.org/realms/chu', client_id: passerelle}}\n"
    )
    for text, offered in ((base, False), (base + oidc, True)):
        ctx = ConsoleContext(store=None, config=load_config_text(text))  # type: ignore[arg-type]
        app = Starlette(routes=web.routes(ctx))
        (route,) = [r for r in app.routes if getattr(r, "path", "") == "/login"]
        assert route is not None
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as c:
            html = (await c.get("/login")).text
        assert ('data-oidc="1"' in html) is offered
    assert page_endpoint  # the shells are rendered once per flag, chosen per request
