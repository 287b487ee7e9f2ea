"""The ``fhir`` destination: FHIR R4 REST to a coordination platform (e-parcours, GRADeS).

``transaction`` mode POSTs the payload Bundle to the base URL and reads the
transaction-response (see :mod:`channels.fhir.bundle` for batch semantics); ``resources``
mode sends entry by entry, in order, stopping at the first failure. One
``httpx.AsyncClient`` per destination keeps a pool of connections (HTTP/1.1 keep-alive)
and is closed by :meth:`FhirDestination.close`.

Idempotency is the payload's: a redelivery after a crash or a lost answer resends the same
Bundle, so maps must use PUT with deterministic ids, conditional updates on business
identifiers (``PUT Patient?identifier=system|value``) or ``ifNoneExist``, never a bare POST.
"""

from __future__ import annotations

import json
import logging
import ssl
from typing import Any

import httpx

from channels.fhir.auth import TokenSource
from channels.fhir.bundle import (
    FHIR_JSON,
    Request,
    bundle_type,
    load,
    read_response,
    requests_for,
    rewrite_references,
    short_location,
    summarise,
)
from channels.fhir.config import FhirDestinationConfig
from channels.fhir.errors import body_json, status_error, transport_error
from channels.fhir.update import apply, is_marked
from engine import tls
from engine.components import DeliveryContext, Destination, Payload
from engine.errors import ChannelError, PermanentDeliveryError
from engine.registry import destination

log = logging.getLogger(__name__)


def tls_context(config: FhirDestinationConfig) -> ssl.SSLContext | bool:
    """The TLS verification context (True: system trust store).

    Raises:
        ChannelError: a certificate, key or CA file is missing or invalid.
    """
    if config.tls is None:
        return True
    return tls.client_context(
        ca_file=config.tls.ca_file,
        cert_file=config.tls.cert_file,
        key_file=config.tls.key_file,
        error="cannot load the TLS configuration",
    )


@destination("fhir", config=FhirDestinationConfig)
class FhirDestination(Destination[FhirDestinationConfig]):
    """Sends FHIR R4 transaction Bundles (or resource by resource) to a FHIR server."""

    def __init__(self, name: str, config: FhirDestinationConfig) -> None:
        super().__init__(name, config)
        self._client: httpx.AsyncClient | None = None
        self.tokens = TokenSource(config.auth, name) if config.auth is not None else None

    async def open(self) -> None:
        """Build the TLS context and the connection pool (ChannelError if TLS is unusable)."""
        if self._client is not None:
            return
        cfg = self.config
        self._client = httpx.AsyncClient(
            verify=tls_context(cfg),
            timeout=httpx.Timeout(cfg.timeout, connect=cfg.connect_timeout),
            limits=httpx.Limits(
                max_connections=cfg.max_connections,
                max_keepalive_connections=cfg.max_keepalive,
                keepalive_expiry=cfg.keepalive_expiry,
            ),
            follow_redirects=False,
            trust_env=False,
        )

    async def close(self) -> None:
        """Close the pool. Idempotent."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _reopen(self) -> httpx.AsyncClient:
        await self.open()
        if self._client is None:  # pragma: no cover - open() always sets it
            raise ChannelError(f"fhir destination '{self.name}' could not open")
        return self._client

    async def send(self, payload: Payload, context: DeliveryContext) -> str:
        """Deliver one payload; the detail lists each entry's status and location."""
        resource = load(payload)
        if is_marked(resource):
            if self.config.mode != "transaction":
                raise PermanentDeliveryError(
                    "the map's Bundle asks for merged updates, which need mode: transaction"
                )
            return await apply(
                resource, lambda request, what, ok: self._call(request, what, context, ok)
            )
        if self.config.mode == "transaction":
            kind = bundle_type(resource)
            what = f"POST {kind}"
            response = await self._call(Request("POST", "", resource), what, context)
            return read_response(kind, body_json(response), response.content)
        requests = requests_for(resource)
        resolved: dict[str, str] = {}
        items: list[str] = []
        for i, request in enumerate(requests, start=1):
            if resolved and request.resource is not None:
                body = rewrite_references(request.resource, resolved)
                request = Request(request.method, request.url, body, request.headers)
            what = f"entry {i} of {len(requests)} ({request.label})"
            response = await self._call(request, what, context)
            location = _location(response)
            if location and request.full_url:
                resolved[request.full_url] = location
            items.append(f"{response.status_code} {location}".rstrip())
        return summarise(items)

    async def _call(
        self,
        request: Request,
        what: str,
        context: DeliveryContext,
        accept: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send one request (with a bearer token, refreshed once on 401); 2xx, a status in
        ``accept``, or raise."""
        client = self._client or await self._reopen()
        tokens = self.tokens
        headers = {
            "Accept": FHIR_JSON,
            "X-Request-Id": f"{context.delivery_id}-{context.attempt}",
            **self.config.headers,
            **request.headers,
        }
        content: bytes | None = None
        if request.resource is not None:
            content = json.dumps(request.resource, ensure_ascii=False).encode()
            headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
        url = f"{self.config.base}/{request.url}" if request.url else self.config.base
        for refreshed in (False, True):
            token = await tokens.token(client) if tokens is not None else None
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            try:
                response = await client.request(
                    request.method, url, content=content, headers=headers
                )
            except httpx.HTTPError as exc:
                raise transport_error(exc, what) from exc
            if response.status_code == 401 and tokens and token and not refreshed:
                tokens.invalidate(token)
                log.info(
                    "Bearer token refused; fetching a new one.",
                    extra={"destination": self.name, "delivery_id": context.delivery_id},
                )
                continue
            break
        if not 200 <= response.status_code < 300 and response.status_code not in accept:
            raise status_error(response, what)
        return response


def _location(response: httpx.Response) -> str:
    """``Type/id`` of what a request created or updated, from headers or the body."""
    for header in ("Location", "Content-Location"):
        if response.headers.get(header):
            return short_location(response.headers[header])
    body: Any = body_json(response)
    if isinstance(body, dict) and body.get("resourceType") and body.get("id"):
        return f"{body['resourceType']}/{body['id']}"
    return ""


__all__ = ["FhirDestination", "tls_context"]
