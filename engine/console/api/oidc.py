"""OpenID Connect login: authorization code flow with PKCE (S256), provider discovery,
ID token signature checked against the provider's JWKS (PyJWT), role and establishments
mapped from claims by ``console.oidc``.

The pending logins (state -> PKCE verifier, nonce) live in memory, bounded and short-lived;
the browser is bound to its login by a ``passerelle_oidc`` cookie holding the state. An
OIDC user gets (or refreshes) an account of source ``oidc``; a local account of the same
name is never taken over.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from engine.config.console import ConsoleOidc, Role, check_finess
from engine.console.api.tenancy import role_rank
from engine.tls import client_context

PENDING_TTL = 600.0
MAX_PENDING = 1000
METADATA_TTL = 3600.0
_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]


class OidcError(Exception):
    """A failed OIDC login; the text names the step (no token or claim value in it)."""


@dataclass(frozen=True, slots=True)
class Pending:
    verifier: str
    nonce: str
    redirect_uri: str
    created: float


@dataclass(frozen=True, slots=True)
class OidcUser:
    name: str
    role: Role
    establishments: tuple[str, ...]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class OidcClient:
    """One relying party (``console.oidc``)."""

    def __init__(self, settings: ConsoleOidc, *, verify: Any = True) -> None:
        self.settings = settings
        if settings.ca_file is not None and verify is True:
            verify = client_context(ca_file=settings.ca_file, error="console.oidc.ca_file")
        self._verify = verify
        self._pending: OrderedDict[str, Pending] = OrderedDict()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: jwt.PyJWKSet | None = None
        self._jwks_at = 0.0

    async def _get(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(verify=self._verify, timeout=10.0) as client:
                response = await client.get(url)
                response.raise_for_status()
                data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(f"cannot read {url}: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise OidcError(f"{url} did not answer a JSON object")
        return data

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (cached for an hour)."""
        if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_TTL:
            issuer = self.settings.issuer.rstrip("/")
            data = await self._get(f"{issuer}/.well-known/openid-configuration")
            if str(data.get("issuer", "")).rstrip("/") != issuer:
                raise OidcError("the discovery document names another issuer")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(data.get(key), str):
                    raise OidcError(f"the discovery document has no {key}")
            self._metadata, self._metadata_at = data, time.monotonic()
        return self._metadata

    async def start(self, redirect_uri: str) -> tuple[str, str]:
        """The provider URL to send the browser to, and the state of this login."""
        meta = await self.metadata()
        now = time.monotonic()
        while self._pending and (
            len(self._pending) >= MAX_PENDING
            or now - next(iter(self._pending.values())).created > PENDING_TTL
        ):
            self._pending.popitem(last=False)
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        self._pending[state] = Pending(verifier, nonce, redirect_uri, now)
        query = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.settings.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
        }
        return f"{meta['authorization_endpoint']}?{urlencode(query)}", state

    async def finish(self, state: str, code: str) -> OidcUser:
        """Exchange the code, check the ID token, map its claims. Raises OidcError."""
        pending = self._pending.pop(state, None)
        if pending is None or time.monotonic() - pending.created > PENDING_TTL:
            raise OidcError("unknown or expired login state")
        meta = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "client_id": self.settings.client_id,
            "code_verifier": pending.verifier,
        }
        auth: httpx.Auth = httpx.BasicAuth(
            self.settings.client_id, self.settings.client_secret or ""
        )
        if not self.settings.client_secret:  # public client: PKCE only
            auth = httpx.Auth()
        try:
            async with httpx.AsyncClient(verify=self._verify, timeout=10.0) as client:
                response = await client.post(meta["token_endpoint"], data=form, auth=auth)
                response.raise_for_status()
                id_token = response.json().get("id_token")
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise OidcError(f"token request failed: {type(exc).__name__}") from None
        if not isinstance(id_token, str):
            raise OidcError("the token response has no id_token")
        claims = await self._verify_token(id_token)
        if claims.get("nonce") != pending.nonce:
            raise OidcError("the ID token's nonce does not match")
        return self.map_claims(claims)

    async def _key(self, kid: str | None) -> Any:
        for attempt in range(2):
            if self._jwks is None or (attempt and time.monotonic() - self._jwks_at > 30.0):
                meta = await self.metadata()
                try:
                    self._jwks = jwt.PyJWKSet.from_dict(await self._get(meta["jwks_uri"]))
                except jwt.PyJWTError as exc:
                    raise OidcError(f"unusable JWKS: {type(exc).__name__}") from None
                self._jwks_at = time.monotonic()
            for key in self._jwks.keys:
                if kid is None or key.key_id == kid:
                    return key.key
        raise OidcError("the ID token is signed with an unknown key")

    async def _verify_token(self, id_token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(id_token)
            key = await self._key(header.get("kid"))
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=_ALGORITHMS,
                audience=self.settings.client_id,
                issuer=(await self.metadata())["issuer"],
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise OidcError(f"invalid ID token: {type(exc).__name__}") from None
        return claims

    def map_claims(self, claims: dict[str, Any]) -> OidcUser:
        """Name, strongest mapped role and establishments of a verified token's claims."""
        s = self.settings
        name = _claim(claims, s.username_claim)
        if not isinstance(name, str) or not name:
            raise OidcError(f"the ID token has no {s.username_claim}")
        values = _claim(claims, s.role_claim)
        values = [values] if isinstance(values, str) else values if isinstance(values, list) else []
        roles = [s.role_map[v] for v in values if isinstance(v, str) and v in s.role_map]
        if not roles:
            raise OidcError("no console role is mapped for this user")
        role = max(roles, key=role_rank)
        establishments: tuple[str, ...] = ()
        if s.establishments_claim:
            found = _claim(claims, s.establishments_claim)
            found = [found] if isinstance(found, str) else found if isinstance(found, list) else []
            try:
                establishments = tuple(sorted({check_finess(str(v)) for v in found}))
            except ValueError:
                raise OidcError("the establishments claim holds a non-FINESS value") from None
            if not establishments:
                raise OidcError("the user has no establishment")
        return OidcUser(name, role, establishments)


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by dotted path (``realm_access.roles`` for Keycloak)."""
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


__all__ = ["OidcClient", "OidcError", "OidcUser"]
