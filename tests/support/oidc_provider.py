"""A small OpenID Connect provider for tests, served by uvicorn on 127.0.0.1 port 0:
discovery, JWKS, an authorization endpoint that approves at once (the user's claims are
set by the test) and a token endpoint that checks the client secret and the PKCE
verifier and returns an RS256-signed ID token.

``sign_with_foreign_key`` makes it sign with a key absent from its JWKS (a forged token);
``nonce_override`` puts another nonce in the token (a replayed one).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID, CLIENT_SECRET = "passerelle-console", "s3cret-of-the-client"


@dataclass
class Provider:
    issuer: str = ""
    claims: dict[str, Any] = field(default_factory=dict)
    sign_with_foreign_key: bool = False
    nonce_override: str | None = None
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    foreign: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    token_requests: int = 0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return JSONResponse({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "challenge": q["code_challenge"],
            "nonce": q["nonce"],
            "redirect_uri": q["redirect_uri"],
        }
        target = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"
        return RedirectResponse(target, status_code=302)

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        form = dict(parse_qsl((await request.body()).decode()))
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {basic}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.codes.pop(str(form.get("code")), None)
        verifier = str(form.get("code_verifier", ""))
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if grant is None or grant["challenge"] != challenge:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if grant["redirect_uri"] != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
            "nonce": self.nonce_override or grant["nonce"],
            **self.claims,
        }
        key = self.foreign if self.sign_with_foreign_key else self.key
        id_token = jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k1"})
        return JSONResponse({"access_token": "at", "token_type": "Bearer", "id_token": id_token})


@asynccontextmanager
async def running_provider() -> AsyncIterator[Provider]:
    provider = Provider()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    provider.issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(provider.app(), log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    server.capture_signals = _no_signals  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield provider
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.contextmanager
def _no_signals() -> Iterator[None]:
    yield


NODE_SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
NODE_MODULES = Path(__file__).resolve().parents[2] / ".cache" / "oidc-provider" / "node_modules"


def node_provider_available() -> None:
    """Skip (fail under CI=true) when Node.js or the oidc-provider package is missing."""
    if shutil.which("node") and (NODE_MODULES / "oidc-provider").is_dir():
        return
    reason = (
        "the oidc-provider npm package is not installed (npm install --prefix "
        ".cache/oidc-provider oidc-provider@9.5.1, see .ci/run)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@asynccontextmanager
async def running_node_provider(
    port: int, redirect_uri: str, claims: dict[str, Any]
) -> AsyncIterator[str]:
    """The npm ``oidc-provider`` on 127.0.0.1:``port``; yields its issuer URL."""
    node_provider_available()
    process = await asyncio.create_subprocess_exec(
        "node", str(NODE_SCRIPT), str(port), redirect_uri, CLIENT_ID, CLIENT_SECRET,
        json.dumps(claims),
        env={**os.environ, "OIDC_PROVIDER_MODULES": str(NODE_MODULES)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line.startswith(b"ready "), line
        yield line.decode().split()[1]
    finally:
        process.terminate()
        await process.wait()


async def node_login(authorize_url: str, stop_at: str, login: str) -> str:
    """Play the browser at the provider: its development login page accepts ``login``;
    returns the redirect to ``stop_at`` (the console's callback)."""
    async with httpx.AsyncClient(timeout=10) as browser:
        url, method, form = authorize_url, "GET", None
        for _ in range(10):
            answer = await browser.request(method, url, data=form)
            if answer.status_code in (302, 303):
                url = str(answer.url.join(answer.headers["location"]))
                if url.startswith(stop_at):
                    return url
                method, form = "GET", None
                continue
            assert answer.status_code == 200, answer.text
            action = re.search(r'<form[^>]*action="([^"]+)"', answer.text)
            assert action is not None, answer.text
            url = str(answer.url.join(action.group(1)))
            method, form = "POST", {"login": login, "password": "any", "prompt": "login"}
    raise AssertionError("the provider did not redirect back")


__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "Provider",
    "node_login",
    "running_node_provider",
    "running_provider",
]
