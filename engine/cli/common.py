"""Options and helpers shared by CLI commands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from engine.errors import ConfigError

if TYPE_CHECKING:
    from engine.config.models import Config

F = TypeVar("F", bound=Callable[..., object])


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
        sys.exit(1)
