"""``passerelle users``: console accounts and API tokens from the command line.

Passwords are read from a prompt (or, with ``--password-stdin``, one line of standard
input), never from an option; a token's secret is printed once. Every change is audited
as ``cli:<os user>``.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from engine.cli.common import config_option, with_store
from engine.cli.operator import audit
from engine.config.console import ROLES
from engine.console.api.accounts import (
    AccountError,
    create_account,
    issue_token,
    update_account,
)
from engine.errors import NotFound
from engine.message import utcnow
from engine.store.base import Store

T = TypeVar("T")
_ROLE = click.Choice(list(ROLES))


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _run(config: Path, action: Callable[[Store], Awaitable[T]]) -> T:
    async def guarded(store: Store) -> T:
        try:
            return await action(store)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        except NotFound as exc:
            raise click.ClickException(str(exc)) from None

    return with_store(config, guarded)


@click.group()
def users() -> None:
    """Console accounts (local, argon2 hashes) and their API tokens."""


@users.command("add")
@config_option
@click.argument("name")
@click.option("--role", type=_ROLE, default="viewer", show_default=True)
@click.option("--establishment", "establishments", multiple=True, help="FINESS (repeatable)")
@click.option("--password-stdin", is_flag=True, help="read the password from stdin")
def add(
    config: Path, name: str, role: str, establishments: tuple[str, ...], password_stdin: bool
) -> None:
    """Create a local account."""
    password = _password(password_stdin)

    async def act(store: Store) -> None:
        await create_account(store, name, role, password, establishments, utcnow())
        await audit(store, "account.create", name, detail=f"role={role}")

    _run(config, act)
    click.echo(f"user {name} created ({role})")


@users.command("list")
@config_option
def list_(config: Path) -> None:
    """Accounts: name, role, source, establishments, state."""

    async def act(store: Store) -> None:
        for a in await store.accounts():
            state = "disabled" if a.disabled else "active"
            places = ",".join(a.establishments) or "*"
            click.echo(f"{a.name:<20} {a.role:<9} {a.source:<6} {state:<9} {places}")

    _run(config, act)


def _update(config: Path, name: str, what: str, **changes: object) -> None:
    async def act(store: Store) -> None:
        await update_account(store, name, utcnow(), **changes)  # type: ignore[arg-type]
        await audit(store, "account.update", name, detail=what)

    _run(config, act)
    click.echo(f"user {name}: {what}")


@users.command("disable")
@config_option
@click.argument("name")
def disable(config: Path, name: str) -> None:
    """Refuse the account's logins and tokens (its sessions end)."""
    _update(config, name, "disabled", disabled=True)


@users.command("enable")
@config_option
@click.argument("name")
def enable(config: Path, name: str) -> None:
    """Allow a disabled account again."""
    _update(config, name, "enabled", disabled=False)


@users.command("set-password")
@config_option
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="read the password from stdin")
def set_password(config: Path, name: str, password_stdin: bool) -> None:
    """Change a local account's password."""
    _update(config, name, "password changed", password=_password(password_stdin))


@users.command("delete")
@config_option
@click.argument("name")
def delete(config: Path, name: str) -> None:
    """Delete an account with its tokens and sessions."""

    async def act(store: Store) -> None:
        await store.delete_account(name)
        await audit(store, "account.delete", name)

    _run(config, act)
    click.echo(f"user {name} deleted")


@users.command("token")
@config_option
@click.argument("name")
@click.option("--label", required=True, help="what the token is for")
@click.option("--role", type=_ROLE, default="viewer", show_default=True)
@click.option("--expires-in", type=click.IntRange(min=1), help="lifetime in days")
def token(config: Path, name: str, label: str, role: str, expires_in: int | None) -> None:
    """Issue an API token for NAME; its secret is printed once (only a digest is kept)."""

    async def act(store: Store) -> str:
        days = expires_in * 86400.0 if expires_in else None
        issued, secret = await issue_token(store, name, label, role, utcnow(), days)
        await audit(store, "token.create", f"token:{issued.id}", detail=f"account={name}")
        return secret

    click.echo(_run(config, act))


COMMANDS = [users]
