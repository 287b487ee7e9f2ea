"""A faithful test FHIR R4 platform on 127.0.0.1: a real HTTP(S) server in its own thread.

Served by uvicorn (starlette app) on a port picked at start, in a background thread with its
own event loop, so it keeps answering while a test blocks (``time.sleep``, a subprocess
wait) and while an engine runs in the test's loop. The data side is
:class:`engine.sandbox.fhir_repository.Repository` (validation, transactions, versions).

Endpoints (base URL ``{url}/fhir``): ``POST /fhir`` (transaction or batch), ``PUT``,
``POST``, ``DELETE`` on ``/fhir/{type}[/{id}]`` (conditional update with
``?identifier=``, conditional create with ``If-None-Exist``, versioned update with
``If-Match``; answers carry ``ETag: W/"n"``), ``GET /fhir/{type}/{id}``,
``GET /fhir/{type}?identifier=|subject=|patient=|part-of=``, and ``POST /oauth/token``
(client credentials). ``PATCH`` and everything else answer 405 with an OperationOutcome.

What a test can switch, at any time, from any thread:

* ``fail(status, times=n, retry_after=...)``: the next n FHIR requests get that status with
  an OperationOutcome (``times=None``: until :meth:`recover`);
* ``delay``: seconds every FHIR request waits before being handled (slow platform);
* :meth:`down` / :meth:`up`: stop listening (connections refused) and listen again on the
  same port;
* OAuth2: ``FhirPlatform(auth=True)`` requires bearer tokens; ``token_lifetime``,
  ``tokens_issued``, :meth:`revoke_tokens` (the next request gets a 401);
* TLS: ``FhirPlatform(pki=write_dev_pki(...), client_certs=True)`` serves HTTPS and
  demands a client certificate issued by the test CA (mutual TLS).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.pki import DevPki
from engine.sandbox.fhir_repository import EntryError, Repository, outcome
from engine.sandbox.fhir_search import searchset

FHIR_JSON = "application/fhir+json"
CLIENT_ID, CLIENT_SECRET = "passerelle-test", "s3cret-for-tests"


@dataclass
class Failure:
    status: int
    remaining: int | None
    retry_after: str | None


def _fhir(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


class FhirPlatform:
    """Start with :meth:`start` (or ``with FhirPlatform() as p``); stop with :meth:`stop`."""

    def __init__(
        self, *, auth: bool = False, pki: DevPki | None = None, client_certs: bool = False
    ) -> None:
        self.repo = Repository()
        self.auth, self.pki, self.client_certs = auth, pki, client_certs
        self.delay = 0.0
        self.token_lifetime: float = 3600
        self.tokens_issued = 0
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) of FHIR calls
        self.request_ids: list[str] = []
        self._tokens: dict[str, float] = {}  # token -> expiry (time.monotonic)
        self._failure: Failure | None = None
        self._inflight = 0  # FHIR requests being handled (read in reset)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self.port = 0
        self.app = Starlette(
            routes=[
                Route("/oauth/token", self._token, methods=["POST"]),
                Route("/fhir", self._bundle, methods=["POST"]),
                Route("/fhir/{kind}", self._type, methods=["GET", "POST", "PUT", "PATCH"]),
                Route(
                    "/fhir/{kind}/{rid}",
                    self._instance,
                    methods=["GET", "PUT", "DELETE", "PATCH"],
                ),
            ]
        )

    # --- control (any thread) -------------------------------------------------------
    @property
    def url(self) -> str:
        scheme = "https" if self.pki else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/fhir"

    def start(self) -> FhirPlatform:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)
        self._call(self._listen())
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def down(self) -> None:
        """Stop listening: new connections are refused, open ones are closed."""
        self._call(self._close())

    def up(self) -> None:
        """Listen again on the same port."""
        self._call(self._listen())

    def fail(self, status: int, *, times: int | None = 1, retry_after: str | None = None) -> None:
        with self._lock:
            self._failure = Failure(status, times, retry_after)

    def recover(self) -> None:
        with self._lock:
            self._failure = None

    def reset(self) -> None:
        """Forget every resource, request, token and failure mode; listen if down. Requests
        still being handled (a slow answer a previous test's client gave up on) finish
        first, so they cannot land in the next test."""
        self.delay = 0.0
        deadline = time.monotonic() + 15
        while self._inflight and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._lock:
            self.repo = Repository()
            self.delay, self.token_lifetime, self.tokens_issued = 0.0, 3600, 0
            self.requests.clear()
            self.request_ids.clear()
            self._tokens.clear()
            self._failure = None
        self.up()

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def __enter__(self) -> FhirPlatform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- reading (any thread) ---------------------------------------------------------
    def resources(self, kind: str) -> list[dict[str, Any]]:
        return self.repo.of_type(kind)

    def arrivals(self, patient: str) -> list[str]:
        """What changed for a patient (``system|value`` of its identifier), in order."""
        with self.repo.lock:
            return list(self.repo.arrivals.get(patient, []))

    # --- server thread ----------------------------------------------------------------
    def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(ready.set)
        self._loop.run_forever()
        self._loop.close()

    def _call(self, coro: Any) -> Any:
        assert self._loop is not None, "the platform is not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(15)

    async def _listen(self) -> None:
        if self._server is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        tls: dict[str, Any] = {}
        if self.pki is not None:
            tls = {
                "ssl_certfile": str(self.pki.server_cert),
                "ssl_keyfile": str(self.pki.server_key),
            }
            if self.client_certs:
                tls.update(ssl_ca_certs=str(self.pki.ca_cert), ssl_cert_reqs=ssl.CERT_REQUIRED)
        config = uvicorn.Config(
            self.app, lifespan="off", log_level="warning", access_log=False, **tls
        )
        self._server = uvicorn.Server(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._serving.done():
                self._serving.result()
            await asyncio.sleep(0.005)

    async def _close(self) -> None:
        server, task, self._server, self._serving = self._server, self._serving, None, None
        if server is not None and task is not None:
            server.should_exit = server.force_exit = True
            await task
        # requests still running (a slow answer the client gave up on) end here
        running = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in running:
            t.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    # --- handlers ---------------------------------------------------------------------
    async def _token(self, request: Request) -> Response:
        fields = parse_qs((await request.body()).decode("ascii", "replace"))
        form = {k: v[0] for k, v in fields.items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if (client_id, secret) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime
            self.tokens_issued += 1
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}
        return JSONResponse(body)

    async def _gate(self, request: Request) -> Response | None:
        """Delay, scripted failures and bearer checks shared by every FHIR endpoint."""
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.headers.get("x-request-id"):
            self.request_ids.append(request.headers["x-request-id"])
        with self._lock:
            failure = self._failure
            if failure is not None and failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failure = None
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            expiry = self._tokens.get(token)
        if failure is not None:
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
            text = f"platform answering {failure.status} (test failure mode)"
            return _fhir(failure.status, outcome("transient", text), headers)
        if self.auth and (expiry is None or expiry < time.monotonic()):
            body = outcome("login", "missing, unknown or expired bearer token")
            return _fhir(401, body, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return None

    async def _answer(self, request: Request, handler: Callable[[Any], Response]) -> Response:
        """Read the whole request, then (like a slow server) wait, then check and handle it:
        a client that gave up meanwhile does not stop the work, it only misses the answer."""
        self._inflight += 1  # only the server thread's loop changes it
        try:
            return await self._handle(request, handler)
        finally:
            self._inflight -= 1

    async def _handle(self, request: Request, handler: Callable[[Any], Response]) -> Response:
        try:
            raw = await request.body()
        except ClientDisconnect:
            return Response(status_code=499)
        refused = await self._gate(request)
        if refused is not None:
            response = refused
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            response = handler(body)
        self.requests.append((request.method, request.url.path, response.status_code))
        return response

    async def _bundle(self, request: Request) -> Response:
        return await self._answer(request, lambda body: _fhir(*self.repo.bundle(body)))

    def _rest(self, request: Request, url: str, body: Any) -> Response:
        if request.method == "PATCH":
            return _fhir(405, outcome("not-supported", "PATCH is not supported here"))
        status, result, location = self.repo.rest(
            request.method,
            url,
            body,
            request.headers.get("if-none-exist"),
            request.headers.get("if-match"),
        )
        if status == 204:
            return Response(status_code=204)
        headers: dict[str, str] = {}
        if location:
            headers["Location"] = f"{self.base_url}/{location}"
            headers["ETag"] = f'W/"{location.rpartition("/")[2]}"'
        return _fhir(status, result or None, headers or None)

    async def _type(self, request: Request) -> Response:
        kind, query = request.path_params["kind"], request.url.query

        def handle(body: Any) -> Response:
            if request.method == "GET":
                try:
                    return _fhir(200, searchset(kind, query, self.repo.search(kind, query)))
                except EntryError as exc:
                    return _fhir(exc.status, exc.outcome)
            return self._rest(request, f"{kind}?{query}" if query else kind, body)

        return await self._answer(request, handle)

    async def _instance(self, request: Request) -> Response:
        kind, rid = request.path_params["kind"], request.path_params["rid"]

        def handle(body: Any) -> Response:
            if request.method == "GET":
                with self.repo.lock:
                    found = self.repo.current.get((kind, rid))
                if found is None:
                    return _fhir(404, outcome("not-found", f"{kind}/{rid} is not known"))
                return _fhir(200, found, {"ETag": f'W/"{found["meta"]["versionId"]}"'})
            return self._rest(request, f"{kind}/{rid}", body)

        return await self._answer(request, handle)


__all__ = ["CLIENT_ID", "CLIENT_SECRET", "FhirPlatform"]
