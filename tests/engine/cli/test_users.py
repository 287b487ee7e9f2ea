"""``passerelle users``: accounts and tokens from the command line, audited as cli:<user>."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from engine.cli import main
from engine.console.api.auth import digest, verify_password
from engine.store.console import AuditQuery
from engine.store.sqlite import SqliteStore

CONFIG = """\
version: 1
engine: {{home: {home}}}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:0", establishment: "750000001"}}
"""


def _setup(tmp_path: Path) -> tuple[Path, SqliteStore]:
    config = tmp_path / "routes.yaml"
    config.write_text(CONFIG.format(home=tmp_path))
    store = SqliteStore(tmp_path / "store.db")

    async def create() -> None:
        await store.open()
        await store.close()

    asyncio.run(create())
    return config, store


def _read(old: SqliteStore, action):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        store = SqliteStore(old.path)
        await store.open()
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(run())


def test_users_add_list_disable_set_password_token_delete(tmp_path: Path) -> None:
    config, store = _setup(tmp_path)
    runner = CliRunner()
    cfg = ["-c", str(config)]
    added = runner.invoke(
        main,
        ["users", "add", "alice", *cfg, "--role", "operator", "--establishment", "750000001",
         "--password-stdin"],
        input="a long enough password\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    account = _read(store, lambda s: s.get_account("alice"))
    assert account.role == "operator" and account.establishments == ("750000001",)
    assert verify_password(account.password_hash, "a long enough password")
    assert account.password_hash.startswith("$argon2id$")

    short = runner.invoke(main, ["users", "add", "bob", *cfg, "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    bad = runner.invoke(
        main,
        ["users", "add", "carol", *cfg, "--establishment", "75", "--password-stdin"],
        input="a long enough password\n",
    )
    assert bad.exit_code == 1 and "FINESS" in bad.output

    listed = runner.invoke(main, ["users", "list", *cfg])
    assert "alice" in listed.output and "operator" in listed.output and "750000001" in listed.output

    issued = runner.invoke(
        main, ["users", "token", "alice", *cfg, "--label", "nightly", "--role", "viewer"]
    )
    assert issued.exit_code == 0, issued.output
    secret = issued.output.strip()
    assert secret.startswith("pas_") and len(secret) > 40
    token = _read(store, lambda s: s.token_by_hash(digest(secret)))
    assert token is not None and (token.account, token.role, token.label) == (
        "alice",
        "viewer",
        "nightly",
    )

    assert runner.invoke(main, ["users", "disable", "alice", *cfg]).exit_code == 0
    assert _read(store, lambda s: s.get_account("alice")).disabled
    changed = runner.invoke(
        main, ["users", "set-password", "alice", *cfg, "--password-stdin"],
        input="another long password\n",
    )  # fmt: skip
    assert changed.exit_code == 0
    account = _read(store, lambda s: s.get_account("alice"))
    assert verify_password(account.password_hash, "another long password")

    assert runner.invoke(main, ["users", "delete", "alice", *cfg]).exit_code == 0
    missing = runner.invoke(main, ["users", "delete", "alice", *cfg])
    assert missing.exit_code == 1

    entries = _read(store, lambda s: s.audit_entries(AuditQuery()))
    actions = [e.action for e in reversed(entries)]
    assert actions == [
        "account.create", "token.create", "account.update", "account.update", "account.delete",
    ]  # fmt: skip
    assert all(e.actor.startswith("cli:") and e.client == "cli" for e in entries)
    assert all("password" not in e.detail or e.detail == "password changed" for e in entries)
