"""Account and token management shared by the API and ``passerelle users``: checks of
names, roles and establishments, password hashing, token issue and revocation."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from engine.config.console import ROLES, check_finess
from engine.console.api.auth import TOKEN_PREFIX, digest, hash_password, new_secret
from engine.errors import NotFound, PasserelleError
from engine.store.base import Store
from engine.store.console import Account, ApiToken

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 12


class AccountError(PasserelleError):
    """A refused account or token change (the text says why; no secret in it)."""


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise AccountError(
            f"{name!r} is not a valid user name (letters, digits, . _ @ -; at most 64)"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r} (viewer, operator or admin)")
    return role


def check_establishments(values: Sequence[str]) -> tuple[str, ...]:
    try:
        return tuple(sorted({check_finess(str(v)) for v in values}))
    except ValueError as exc:
        raise AccountError(str(exc)) from None


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    return password


async def _hash(password: str) -> str:
    """The argon2 hash, computed off the event loop (it costs tens of milliseconds)."""
    return await asyncio.to_thread(hash_password, check_password(password))


async def find(store: Store, name: str) -> Account | None:
    try:
        return await store.get_account(name)
    except NotFound:
        return None


async def create_account(
    store: Store,
    name: str,
    role: str,
    password: str | None,
    establishments: Sequence[str],
    now: datetime,
) -> Account:
    """A new local account. Raises AccountError (invalid, or the name is taken)."""
    check_name(name)
    if await find(store, name) is not None:
        raise AccountError(f"user {name!r} already exists")
    account = Account(
        name=name,
        role=check_role(role),
        password_hash=await _hash(password) if password else "",
        establishments=check_establishments(establishments),
        created_at=now,
        updated_at=now,
    )
    await store.save_account(account)
    return account


async def update_account(
    store: Store,
    name: str,
    now: datetime,
    *,
    role: str | None = None,
    password: str | None = None,
    establishments: Sequence[str] | None = None,
    disabled: bool | None = None,
) -> Account:
    """Change what is given. Raises NotFound, AccountError."""
    account = await store.get_account(name)
    changes: dict[str, object] = {"updated_at": now}
    if role is not None:
        changes["role"] = check_role(role)
    if password is not None:
        changes["password_hash"] = await _hash(password)
    if establishments is not None:
        changes["establishments"] = check_establishments(establishments)
    if disabled is not None:
        changes["disabled"] = disabled
    updated = replace(account, **changes)  # type: ignore[arg-type]
    await store.save_account(updated)
    return updated


async def issue_token(
    store: Store,
    account: str,
    label: str,
    role: str,
    now: datetime,
    expires_in: float | None = None,
) -> tuple[ApiToken, str]:
    """A new API token for ``account``; returns it and its secret (shown once)."""
    owner = await store.get_account(account)
    check_role(role)
    if not label or len(label) > 100:
        raise AccountError("a token needs a label (at most 100 characters)")
    secret = new_secret(TOKEN_PREFIX)
    token = ApiToken(
        id=secrets.token_hex(8),
        account=owner.name,
        token_hash=digest(secret),
        label=label,
        role=role,
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in) if expires_in else None,
    )
    await store.save_token(token)
    return token, secret


async def revoke_token(store: Store, token_id: str) -> ApiToken:
    """Raises NotFound."""
    for token in await store.tokens():
        if token.id == token_id:
            revoked = replace(token, revoked=True)
            await store.save_token(revoked)
            return revoked
    raise NotFound(f"no token {token_id}")


__all__ = [
    "AccountError",
    "check_establishments",
    "check_name",
    "check_password",
    "check_role",
    "create_account",
    "find",
    "issue_token",
    "revoke_token",
    "update_account",
]
