"""What the operator commands share: who acts (``cli:<os user>``), standing orders
(pause a destination, stop a channel) and the audit trail."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import click

from engine.cli.common import load_or_exit, with_store
from engine.message import utcnow
from engine.store.base import Store
from engine.store.console import AuditEntry, Control


def cli_actor() -> str:
    """``cli:<os user>``: the actor of the audit entries this command line writes."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = str(os.getuid())
    return f"cli:{user}"


async def audit(store: Store, action: str, obj: str, outcome: str = "ok", detail: str = "") -> None:
    """Append one audit entry for this command (no patient data in ``detail``)."""
    entry = AuditEntry(utcnow(), cli_actor(), action, obj, outcome, detail, client="cli")
    await store.append_audit(entry)


def set_control(config: Path, kind: str, name: str, paused: bool, action: str) -> None:
    """Record the standing order for a configured channel or destination, and audit it.

    An engine on the same store applies it within its control poll (2 s)."""
    loaded = load_or_exit(config, lenient=True)
    known = loaded.destinations if kind == "destination" else loaded.channels
    if name not in known:
        names = ", ".join(sorted(known)) or "none"
        raise click.ClickException(f"no {kind} {name!r} in {config} (configured: {names})")

    async def write(store: Store) -> None:
        await store.set_control(Control(kind, name, paused, by=cli_actor(), at=utcnow()))
        await audit(store, action, name)

    with_store(config, write)


__all__ = ["audit", "cli_actor", "set_control"]
