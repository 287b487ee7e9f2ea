"""``passerelle channels``: what each channel is doing, and stop/start by an operator.

The state comes from the heartbeats the engines write in the store (every 5 s): a channel
is ``listening``, ``stopped`` (by an operator), ``failed`` (its source could not start
again) or ``unknown`` (no engine alive). ``stop`` and ``start`` record a standing order
in the store; the engine applies it within 2 s and keeps it across restarts.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from engine.cli.common import config_option, load_or_exit, with_store
from engine.cli.messages import columns
from engine.cli.operator import set_control
from engine.message import utcnow
from engine.store.base import Store
from engine.store.console import Control, NodeStatus


@click.group(invoke_without_command=True)
@config_option
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@click.pass_context
def channels(ctx: click.Context, config: Path, as_json: bool) -> None:
    """Show every channel's state (from the engines' heartbeats). Subcommands stop, start."""
    if ctx.invoked_subcommand is not None:
        return
    names = list(load_or_exit(config, lenient=True).channels)

    async def fetch(store: Store) -> tuple[list[NodeStatus], list[Control]]:
        return await store.node_statuses(), await store.controls()

    nodes, controls = with_store(config, fetch)
    stopped = {c.name for c in controls if c.kind == "channel" and c.paused}
    now = utcnow()
    alive = [n for n in nodes if n.alive(now)]
    rows: list[tuple[str, ...]] = []
    for name in names:
        states = sorted({n.channels[name] for n in alive if name in n.channels})
        state = "/".join(states) or ("stopped" if name in stopped else "unknown")
        rows.append((name, state, "stopped" if name in stopped else "-"))
    if as_json:
        for name, state, order in rows:
            row = {"channel": name, "state": state, "stopped_by_operator": order != "-"}
            click.echo(json.dumps(row))
        return
    for line in columns(("CHANNEL", "STATE", "ORDER"), rows):
        click.echo(line)


@channels.command()
@click.argument("name")
@config_option
def stop(name: str, config: Path) -> None:
    """Stop a channel: its source stops listening (senders are refused) until started."""
    set_control(config, "channel", name, True, "channel.stop")
    click.echo(f"{name}: stopped (a running engine applies it within 2 s)")


@channels.command()
@click.argument("name")
@config_option
def start(name: str, config: Path) -> None:
    """Start a channel an operator stopped."""
    set_control(config, "channel", name, False, "channel.start")
    click.echo(f"{name}: started (a running engine applies it within 2 s)")


COMMANDS = [channels]
