"""``passerelle worker``: a process that runs routing and deliveries, no intake."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from engine.cli.common import config_option, load_or_exit
from engine.errors import PasserelleError


@click.command()
@config_option
@click.option(
    "--parent-fd",
    type=int,
    default=None,
    hidden=True,
    help="socket to the parent 'passerelle run' (set by the parent)",
)
def worker(config: Path, parent_fd: int | None) -> None:
    """Run routing and deliveries from the shared queue until SIGTERM or SIGINT.

    Needs `queue: {backend: dramatiq}` in the configuration, so the tasks of every intake
    node reach it; `passerelle run --workers N` starts local workers by itself.
    """
    from engine.worker import serve

    loaded = load_or_exit(config)
    try:
        asyncio.run(serve(loaded, parent_fd))
    except PasserelleError as exc:
        click.echo(f"passerelle: {exc}", err=True)
        sys.exit(1)


COMMANDS = [worker]
