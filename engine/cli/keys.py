"""``passerelle keys``: the keyring that encrypts payloads at rest (docs/store.md)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from engine.cli.common import config_option, load_or_exit, with_store
from engine.errors import ConfigError
from engine.store.base import Store
from engine.store.crypto import Keyring, new_key_line


@click.group()
def keys() -> None:
    """Manage the keys that encrypt stored payloads."""


@keys.command("new")
@config_option
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the keyring file (default: store.encryption.keyring_file of the configuration)",
)
def new(config: Path, path: Path | None) -> None:
    """Add a new key at the head of the keyring file (created 0600): it encrypts from the
    next engine start on; the others still decrypt until `keys rotate` has run."""
    if path is None:
        settings = load_or_exit(config).store.encryption
        if settings is None or settings.keyring_file is None:
            raise click.ClickException(
                "give --file, or set store.encryption.keyring_file in the configuration"
            )
        path = settings.keyring_file
    old = ""
    if path.exists():
        try:
            Keyring.read(path)  # refuse to extend a damaged keyring
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        old = path.read_text()
    key_id, line = new_key_line()
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"{line}\n{old}")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    click.echo(
        f"key {key_id} added to {path} and now current. Restart the engine, then run"
        " 'passerelle keys rotate' to re-encrypt what the older keys sealed."
    )


@keys.command("rotate")
@config_option
def rotate(config: Path) -> None:
    """Re-encrypt every stored payload under the keyring's first key (and seal payloads
    stored before encryption was turned on)."""
    settings = load_or_exit(config).store.encryption
    if settings is None:
        raise click.ClickException("store.encryption is not configured: nothing to rotate to")

    async def run(store: Store) -> int:
        return await store.rotate_payloads()

    count = with_store(config, run)
    click.echo(f"{count} payloads re-encrypted under the current key")


COMMANDS = [keys]
