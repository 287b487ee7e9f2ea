"""``passerelle console``: the operator console beside the engine, on the same store.

It serves the admin API and the dashboard from ``console:`` of routes.yaml; standing
orders (pause, stop) go through the store and the engine applies them within its control
poll. The configuration is loaded leniently (the secrets of channels and destinations are
not needed). SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import click

from engine.cli.common import config_option, load_or_exit, open_config_store
from engine.config.types import parse_hostport
from engine.errors import ChannelError, ConfigError, StoreError


@click.command("console")
@config_option
@click.option("--listen", help="host:port, instead of console.listen")
def console(config: Path, listen: str | None) -> None:
    """Serve the operator console (admin API and dashboard) on the engine's store."""
    from engine.console.context import ConsoleContext
    from engine.console.server import ConsoleServer
    from engine.patient_secret import patient_secret

    loaded = load_or_exit(config, lenient=True)
    if listen is not None:
        try:
            address = parse_hostport(listen)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--listen") from None
        settings = loaded.console.model_copy(update={"listen": address})
        loaded = loaded.model_copy(update={"console": settings})
    store = open_config_store(loaded)
    try:
        secret = patient_secret(loaded)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    async def serve() -> None:
        await store.open()
        try:
            ctx = ConsoleContext(store, loaded, config_path=config, patient_secret=secret)
            server = ConsoleServer(ctx)
            await server.start()
            click.echo(f"console on {server.url}", err=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            await server.stop()
        finally:
            await store.close()

    try:
        asyncio.run(serve())
    except (ChannelError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None


COMMANDS = [console]
