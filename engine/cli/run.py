"""``passerelle run``, ``check`` and ``schema``."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from engine.cli.common import config_option, load_or_exit
from engine.cli.sandbox import sandbox_flag
from engine.errors import PasserelleError


@click.command()
@sandbox_flag(embedded=True)
@config_option
@click.option(
    "--workers",
    "processes",
    type=click.IntRange(min=0),
    default=None,
    help="worker processes beside intake (default: engine.worker_processes; 0: none)",
)
def run(config: Path, processes: int | None) -> None:
    """Run the engine until SIGTERM or SIGINT (graceful stop); SIGHUP restarts workers."""
    os.umask(0o077)  # everything the engine creates (store, outputs) is private
    from engine.assembly import build_engine
    from engine.cli.startup import explain_startup
    from engine.config.diagnostics import render

    loaded = load_or_exit(config)
    if loaded.warnings:
        click.echo(render(loaded.warnings), err=True)
    try:
        engine = build_engine(loaded, worker_processes=processes, source=config)
        from engine.console.server import attach_console

        attach_console(engine, loaded, config)
        asyncio.run(engine.run())
    except PasserelleError as exc:
        click.echo(f"passerelle: {explain_startup(config, exc)}", err=True)
        sys.exit(1)


@click.command()
@sandbox_flag(embedded=False)
@config_option
@click.option("--deny-warnings", is_flag=True, help="exit 1 on warnings too")
def check(config: Path, deny_warnings: bool) -> None:
    """Validate the configuration; print every problem with file:line:col; exit 1 on errors."""
    from engine.config.diagnostics import render, summary
    from engine.config.loader import check_file

    diagnostics = check_file(config)
    if diagnostics:
        click.echo(render(diagnostics), err=True)
    click.echo(f"{config}: {summary(diagnostics)}", err=bool(diagnostics))
    failed = any(d.is_error for d in diagnostics) or (deny_warnings and bool(diagnostics))
    sys.exit(1 if failed else 0)


@click.command()
@click.option(
    "--out",
    "directory",
    default="schemas",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
def schema(directory: Path) -> None:
    """Write the JSON Schemas generated from the config models (routes.schema.json)."""
    from engine.config.schema import write_schemas

    written = write_schemas(directory)
    for path in written:
        click.echo(str(path))


COMMANDS = [run, check, schema]
