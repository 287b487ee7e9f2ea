"""Options and helpers shared by CLI commands."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from engine.errors import ConfigError, NotFound, StoreError
from engine.store.base import Store

if TYPE_CHECKING:
    from engine.config.models import Config

F = TypeVar("F", bound=Callable[..., object])
T = TypeVar("T")


def config_option(func: F) -> F:
    """``-c/--config FILE`` defaulting to ./routes.yaml (or $PASSERELLE_CONFIG)."""
    return click.option(
        "-c",
        "--config",
        default="routes.yaml",
        show_default=True,
        envvar="PASSERELLE_CONFIG",
        type=click.Path(dir_okay=False, path_type=Path),
        help="the routes.yaml to use",
    )(func)


def load_or_exit(path: Path) -> Config:
    """Load and validate the configuration; on errors print every diagnostic and exit 1."""
    from engine.config.diagnostics import render, summary
    from engine.config.loader import load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        click.echo(render(exc.diagnostics) if exc.diagnostics else str(exc), err=True)
        click.echo(f"{path}: {summary(exc.diagnostics)}", err=True)
        if not path.exists():
            click.echo(
                f"(no {path} here: run from the directory that has it, or give it with -c FILE"
                " or PASSERELLE_CONFIG)",
                err=True,
            )
        sys.exit(1)


def with_store(config_path: Path, action: Callable[[Store], Awaitable[T]]) -> T:
    """Open the configured store, run ``action``, close it; store errors exit 1."""
    from engine.assembly import build_store

    try:
        store = build_store(load_or_exit(config_path))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc

    async def run() -> T:
        await store.open()
        try:
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    except StoreError as exc:
        raise click.ClickException(f"store: {exc}") from exc
