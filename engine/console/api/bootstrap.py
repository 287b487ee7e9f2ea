"""The first administrator: on a store without any account, the console creates ``admin``
with a random password written to ``<engine.home>/console-admin-password`` (mode 0600)
and logs the file's path once, at WARNING (never the password)."""

from __future__ import annotations

import logging
import os
import secrets
from datetime import datetime
from pathlib import Path

from engine.console.api.accounts import AccountError, create_account
from engine.console.api.audit import record
from engine.store.base import Store

log = logging.getLogger(__name__)
PASSWORD_FILE = "console-admin-password"
_LEASE = "console.first-admin"


async def ensure_admin(store: Store, home: Path, now: datetime) -> Path | None:
    """Create the first admin when the store has no account; returns the password file
    written, or None when accounts already exist."""
    if await store.accounts():
        return None
    # the engine and a console may start together: one of them (the lease holder) makes it
    if not await store.acquire_lease(_LEASE, secrets.token_hex(8), 60.0):
        return None
    if await store.accounts():
        return None
    password = secrets.token_urlsafe(18)
    try:
        await create_account(store, "admin", "admin", password, (), now)
    except AccountError:
        return None
    home.mkdir(parents=True, exist_ok=True)
    path = home / PASSWORD_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(password + "\n")
    os.chmod(path, 0o600)
    await record(store, at=now, actor="engine", action="account.create", object="admin",
                 detail="first start: password in the console-admin-password file")  # fmt: skip
    log.warning(
        "Console: created the account 'admin'; its password is in the file given here "
        "(change it, then delete the file).",
        extra={"path": str(path)},
    )
    return path


__all__ = ["PASSWORD_FILE", "ensure_admin"]
