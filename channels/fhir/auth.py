"""OAuth2 client credentials for the ``fhir`` destination: one cached token per destination.

The token is fetched on first use, shared by every concurrent delivery (one fetch at a
time, behind a lock), and fetched again ``refresh_margin`` before it expires or when the
server answers 401 to it (:meth:`TokenSource.invalidate`). A token endpoint failure is a
:class:`~engine.errors.RetryableDeliveryError` whatever its status: wrong credentials or an
auth server outage are the channel's problem, not the message's, so messages wait (bounded
by the retry policy) instead of being dead-lettered one by one.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

import httpx

from channels.fhir.config import OAuth2Config
from channels.fhir.errors import body_json, clip, retry_after, transport_error
from engine.errors import RetryableDeliveryError

log = logging.getLogger(__name__)
WHAT = "OAuth2 token request"


class TokenSource:
    """Client-credentials tokens for one destination. ``fetched`` counts tokens obtained."""

    def __init__(self, config: OAuth2Config, destination: str) -> None:
        self.config = config
        self.destination = destination
        self.fetched = 0
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def _current(self) -> str | None:
        if self._token is not None and time.monotonic() < self._refresh_at:
            return self._token
        return None

    async def token(self, client: httpx.AsyncClient) -> str:
        """A valid access token, fetched if there is none or it is about to expire.

        Raises:
            RetryableDeliveryError: the token endpoint failed or answered nonsense.
        """
        current = self._current()
        if current is not None:
            return current
        async with self._lock:
            current = self._current()  # another delivery may have fetched it meanwhile
            if current is not None:
                return current
            return await self._fetch(client)

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the server refused it); a concurrent newer token is kept."""
        if self._token == token:
            self._token = None

    async def _fetch(self, client: httpx.AsyncClient) -> str:
        cfg = self.config
        secret = cfg.client_secret.get_secret_value()
        form = {"grant_type": "client_credentials"}
        if cfg.scope:
            form["scope"] = cfg.scope
        auth: tuple[str, str] | None = None
        if cfg.client_auth == "basic":
            auth = (cfg.client_id, secret)
        else:
            form.update(client_id=cfg.client_id, client_secret=secret)
        try:
            response = await client.post(
                str(cfg.token_url),
                data=form,
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, WHAT) from exc
        body = body_json(response)
        if response.status_code != 200:
            error = ""
            if isinstance(body, dict):
                error = " ".join(str(body[k]) for k in ("error", "error_description") if k in body)
            raise RetryableDeliveryError(
                clip(f"{WHAT}: HTTP {response.status_code}" + (f": {error}" if error else "")),
                retry_after=retry_after(response.headers.get("Retry-After")),
            )
        token = body.get("access_token") if isinstance(body, dict) else None
        kind = str(body.get("token_type", "")).lower() if isinstance(body, dict) else ""
        if not isinstance(token, str) or not token or kind != "bearer":
            raise RetryableDeliveryError(f"{WHAT}: answer has no bearer access_token")
        lifetime = body.get("expires_in")
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
            margin = min(cfg.refresh_margin, lifetime / 2)
            self._refresh_at = time.monotonic() + lifetime - margin
        else:
            self._refresh_at = math.inf  # no expiry given: keep it until the server says 401
        self._token = token
        self.fetched += 1
        log.info(
            "OAuth2 token obtained.",
            extra={"destination": self.destination, "expires_in": lifetime},
        )
        return token


__all__ = ["TokenSource"]
