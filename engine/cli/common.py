"""Options and helpers shared by CLI commands."""

from __future__ import annotations

import asyncio
import os
import re
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


HOME_ENV, STORE_ENV = "PASSERELLE_CLI_HOME", "PASSERELLE_CLI_STORE"
"""Where the global ``--home``/``--store`` options are kept (worker processes inherit)."""
_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def load_or_exit(path: Path, *, lenient: bool = False) -> Config:
    """Load and validate the configuration; on errors print every diagnostic and exit 1.

    The global ``--home`` and ``--store`` options are applied. ``lenient`` (commands that
    only read or write the store): a ``${VAR}`` without default that is not set keeps its
    reference text instead of failing, so the secrets of channels and destinations are
    not needed; and with ``--store`` a missing configuration file is no error.
    """
    from engine.config.diagnostics import render, summary
    from engine.config.loader import load_config_text, read_source
    from engine.config.models import Config

    try:
        if lenient and os.environ.get(STORE_ENV) and not path.exists():
            return apply_overrides(Config(version=1))
        text, problems = read_source(path)
        if text is None:
            raise ConfigError(str(problems[0]), problems)
        env = dict(os.environ)
        if lenient:  # a reference stays as written: never a value, never a secret
            for name in _REFERENCE.findall(text):
                env.setdefault(name, "${" + name + "}")
        return apply_overrides(load_config_text(text, file=str(path), env=env, files=not lenient))
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


def apply_overrides(config: Config) -> Config:
    """The configuration with the global ``--home`` and ``--store`` options applied."""
    home, store = os.environ.get(HOME_ENV), os.environ.get(STORE_ENV)
    if home:
        settings = config.store
        if settings.path == config.engine.home / "store.db":  # the default follows the home
            settings = settings.model_copy(update={"path": Path(home) / "store.db"})
        config = config.model_copy(
            update={
                "engine": config.engine.model_copy(update={"home": Path(home)}),
                "store": settings,
            }
        )
    if store:
        if store.startswith(("postgresql://", "postgres://")):
            update: dict[str, object] = {"backend": "postgres", "dsn": store, "path": None}
        else:
            update = {"backend": "sqlite", "dsn": None, "path": Path(store)}
        config = config.model_copy(update={"store": config.store.model_copy(update=update)})
    return config


def open_config_store(config: Config) -> Store:
    """The configured store, refusing to create one: a SQLite file must exist and the
    settings it needs must be set (a clear error otherwise)."""
    from engine.assembly import build_store

    settings = config.store
    if settings.backend == "sqlite":
        path = settings.path or config.engine.home / "store.db"
        if not path.exists():
            raise click.ClickException(
                f"no store at {path}: run this where the engine runs, or give its home or"
                " store (passerelle --home DIR / --store FILE)"
            )
    unset = [
        name
        for name, value in (
            ("store.dsn", settings.dsn),
            ("store.encryption.keyring", settings.encryption and settings.encryption.keyring),
        )
        if value and "${" in value
    ]
    if unset:
        raise click.ClickException(f"{', '.join(unset)}: its environment variable is not set")
    try:
        return build_store(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def with_store(config_path: Path, action: Callable[[Store], Awaitable[T]]) -> T:
    """Open the configured store (never creating one), run ``action``, close it; store
    errors exit 1. The configuration is loaded leniently (see :func:`load_or_exit`)."""
    store = open_config_store(load_or_exit(config_path, lenient=True))

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
