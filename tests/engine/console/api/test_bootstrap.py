"""The first admin: created once, even when the engine and a console start together."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.console.api.auth import verify_password
from engine.console.api.bootstrap import PASSWORD_FILE, ensure_admin
from engine.store.base import Store
from engine.store.console import AuditQuery
from tests.support.console import now


async def test_two_processes_starting_together_make_one_admin(tmp_path: Path, store: Store) -> None:
    made = await asyncio.gather(
        ensure_admin(store, tmp_path, now()), ensure_admin(store, tmp_path, now())
    )
    assert sorted(made, key=str) == sorted([tmp_path / PASSWORD_FILE, None], key=str)
    (admin,) = await store.accounts()
    password = (tmp_path / PASSWORD_FILE).read_text().strip()
    assert admin.role == "admin" and verify_password(admin.password_hash, password)
    # later starts leave it alone
    assert await ensure_admin(store, tmp_path, now()) is None
    (entry,) = await store.audit_entries(AuditQuery(action="account.create"))
    assert entry.actor == "engine" and password not in entry.detail
