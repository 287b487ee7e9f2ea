"""Credentials: argon2 password hashes, session cookies, API tokens, login rate limits,
and the authentication of one request.

Secrets (session cookies, API tokens) are 256-bit random values; the store keeps only
their SHA-256 digest, so a stolen store opens no session. A session cookie authenticates
with its CSRF token for state-changing requests (checked in :mod:`.routing`); a bearer
token needs none (it is never sent automatically by a browser).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import replace
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.requests import Request

from engine.config.console import Role
from engine.console.api.tenancy import Principal, as_role, weakest
from engine.errors import NotFound
from engine.store.base import Store
from engine.store.console import Account

SESSION_COOKIE = "passerelle_session"
TOKEN_PREFIX = "pas_"
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


def hash_password(password: str) -> str:
    """The argon2id hash stored for a local account."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches; an empty hash (OIDC-only account) never matches.
    Costs one argon2 verification either way (no timing hint of unknown accounts)."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and bool(stored_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_secret(prefix: str = "") -> str:
    """A fresh 256-bit random secret, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the store keeps of a secret: SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class LoginLimiter:
    """Failed logins per key (account name, client address) in a sliding window.

    Memory is bounded: at most ``max_keys`` keys are tracked, the least recently failed
    ones are forgotten first.
    """

    def __init__(self, *, failures: int = 5, window: float = 300.0, max_keys: int = 10_000) -> None:
        self.failures = failures
        self.window = window
        self.max_keys = max_keys
        self._seen: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._seen.get(key, ()) if now - t < self.window]
        if times:
            self._seen[key] = times
        else:
            self._seen.pop(key, None)
        return times

    def blocked(self, *keys: str) -> bool:
        """True when any key reached its failure budget in the window."""
        now = time.monotonic()
        return any(len(self._recent(k, now)) >= self.failures for k in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            times = self._recent(key, now)
            times.append(now)
            self._seen[key] = times[-self.failures :]
            self._seen.move_to_end(key)
        while len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._seen.pop(key, None)

    def __len__(self) -> int:
        return len(self._seen)


def client_of(request: Request) -> str:
    """The remote address (what the audit trail records as ``client``)."""
    return request.client.host if request.client else ""


async def _account(store: Store, name: str) -> Account | None:
    try:
        account = await store.get_account(name)
    except NotFound:
        return None
    return None if account.disabled else account


async def authenticate(store: Store, request: Request, now: datetime) -> Principal | None:
    """The principal of a request (bearer token first, then the session cookie), or None."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return await _by_token(store, header[7:].strip(), now)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    session = await store.get_session(digest(cookie))
    if session is None or session.expires_at <= now:
        return None
    account = await _account(store, session.account)
    if account is None:
        return None
    return Principal(
        name=account.name,
        role=as_role(account.role),
        establishments=account.establishments,
        actor=account.name,
        via="session",
        session_hash=session.id_hash,
        csrf_token=session.csrf_token,
    )


async def _by_token(store: Store, secret: str, now: datetime) -> Principal | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = await store.token_by_hash(digest(secret))
    if token is None or token.revoked or (token.expires_at and token.expires_at <= now):
        return None
    account = await _account(store, token.account)
    if account is None:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        await store.save_token(replace(token, last_used_at=now))
    role: Role = weakest(token.role, account.role)
    return Principal(
        name=account.name,
        role=role,
        establishments=account.establishments,
        actor=f"token:{token.id}",
        via="token",
    )


__all__ = [
    "SESSION_COOKIE",
    "TOKEN_PREFIX",
    "LoginLimiter",
    "authenticate",
    "client_of",
    "digest",
    "hash_password",
    "new_secret",
    "verify_password",
]
