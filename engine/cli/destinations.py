"""``passerelle destinations``: each destination's circuit and its deliveries per state.

Read from the store (``destination_status`` and the deliveries), so it shows what a
running engine recorded: a circuit ``open`` means the engine stopped sending there after
consecutive failures and waits for its next probe; nothing is dead-lettered meanwhile.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from engine.cli.common import config_option, load_or_exit, with_store
from engine.cli.messages import local_time
from engine.cli.operator import set_control
from engine.message import DeliveryState
from engine.store.base import DestinationStatus, Store


@click.group(invoke_without_command=True)
@config_option
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@click.pass_context
def destinations(ctx: click.Context, config: Path, as_json: bool) -> None:
    """Show every destination: circuit state, failures, next probe, deliveries per state
    (CIRCUIT says `paused` while an operator paused it). Subcommands pause and resume."""
    if ctx.invoked_subcommand is not None:
        return
    names = list(load_or_exit(config, lenient=True).destinations)

    async def fetch(
        store: Store,
    ) -> tuple[dict[str, DestinationStatus], dict[str, dict[DeliveryState, int]], set[str]]:
        statuses = {s.destination: s for s in await store.destination_statuses()}
        paused = {c.name for c in await store.controls() if c.kind == "destination" and c.paused}
        return statuses, await store.delivery_counts(), paused

    statuses, counts, paused = with_store(config, fetch)
    names += sorted((set(statuses) | set(counts)) - set(names))  # seen, no longer configured
    if as_json:
        for name in names:
            row = _row(name, statuses.get(name), counts.get(name, {}))
            click.echo(json.dumps({**row, "paused": name in paused}, ensure_ascii=False))
        return
    states = list(DeliveryState)
    click.echo(
        f"{'DESTINATION':<20}  {'CIRCUIT':<9}  {'FAILS':>5}  {'NEXT PROBE':<19}  "
        + "  ".join(f"{s.value.upper():>8}" for s in states)
        + "  LAST ERROR"
    )
    for name in names:
        status = statuses.get(name) or DestinationStatus(name, "closed")
        counted = counts.get(name, {})
        click.echo(
            f"{name:<20.20}  {'paused' if name in paused else status.state:<9}  "
            f"{status.failures:>5}  "
            f"{local_time(status.next_probe_at):<19}  "
            + "  ".join(f"{counted.get(s, 0):>8}" for s in states)
            + f"  {status.last_error or '-'}"
        )


def _row(
    name: str, status: DestinationStatus | None, counts: dict[DeliveryState, int]
) -> dict[str, Any]:
    status = status or DestinationStatus(name, "closed")
    probe = status.next_probe_at
    return {
        "destination": name,
        "circuit": status.state,
        "failures": status.failures,
        "opens": status.opens,
        "next_probe_at": probe.isoformat() if probe else None,
        "last_error": status.last_error,
        "deliveries": {s.value: counts.get(s, 0) for s in DeliveryState},
    }


@destinations.command()
@click.argument("name")
@config_option
def pause(name: str, config: Path) -> None:
    """Pause a destination: its deliveries wait, spending no attempt, until resumed."""
    set_control(config, "destination", name, True, "destination.pause")
    click.echo(f"{name}: paused (a running engine applies it within 2 s)")


@destinations.command()
@click.argument("name")
@config_option
def resume(name: str, config: Path) -> None:
    """Resume a paused destination: what waited is sent."""
    set_control(config, "destination", name, False, "destination.resume")
    click.echo(f"{name}: resumed (a running engine applies it within 2 s)")


COMMANDS = [destinations]
