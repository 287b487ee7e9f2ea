"""``passerelle certs``: make a local development PKI (never for production)."""

from __future__ import annotations

from pathlib import Path

import click

from engine.pki import write_dev_pki


@click.command()
@click.option(
    "--out",
    "directory",
    default="certs/dev",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option("--force", is_flag=True, help="overwrite existing files")
def certs(directory: Path, force: bool) -> None:
    """Write a development CA, a server and a client certificate with their keys.

    For local tests of TLS and mTLS channels only; keys are written with mode 0600 and the
    certs/ directory is git-ignored. Production certificates come from your PKI (IGC-Santé).
    """
    pki = write_dev_pki(directory, overwrite=force)
    for label, path in (
        ("CA certificate", pki.ca_cert),
        ("server certificate", pki.server_cert),
        ("server key", pki.server_key),
        ("client certificate", pki.client_cert),
        ("client key", pki.client_key),
    ):
        click.echo(f"{label:<20} {path}")


COMMANDS = [certs]
