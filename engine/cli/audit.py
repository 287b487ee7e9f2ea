"""``passerelle audit``: the append-only audit trail (logins, payload views, replays,
releases, pauses, reloads), newest first. Entries carry ids and names, no patient data."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from engine.cli.common import config_option, with_store
from engine.cli.messages import columns, local_time
from engine.store.base import Store
from engine.store.console import AuditEntry, AuditQuery


@click.command()
@config_option
@click.option("--actor", help="only this actor (an account, token:<id>, cli:<user>)")
@click.option("--action", help="only this action (replay, payload.view, …)")
@click.option("--object", "obj", help="only this object (a message id, a destination…)")
@click.option("--since", type=click.DateTime(), help="at or after (local time)")
@click.option("--until", type=click.DateTime(), help="before (local time)")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def audit(
    config: Path,
    actor: str | None,
    action: str | None,
    obj: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """List audit entries, newest first."""
    query = AuditQuery(
        actor=actor,
        action=action,
        object=obj,
        since=since.astimezone() if since else None,
        until=until.astimezone() if until else None,
        limit=limit,
    )

    async def fetch(store: Store) -> list[AuditEntry]:
        return await store.audit_entries(query)

    entries = with_store(config, fetch)
    if as_json:
        for e in entries:
            row = {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "object": e.object,
                "outcome": e.outcome,
                "detail": e.detail,
                "client": e.client,
            }
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    rows: list[tuple[str, ...]] = [
        (local_time(e.at), e.actor, e.action, e.object, e.outcome, e.detail or "-") for e in entries
    ]
    for line in columns(("AT", "ACTOR", "ACTION", "OBJECT", "OUTCOME", "DETAIL"), rows):
        click.echo(line)


COMMANDS = [audit]
