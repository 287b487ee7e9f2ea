"""``passerelle tables import``: regenerate the XDS tables from the ANS NOS exports."""

from __future__ import annotations

from pathlib import Path

import click

from engine.errors import ConfigError
from engine.formats.xds.nos_import import import_tables
from engine.formats.xds.tables import DEFAULT_TABLES_DIR


@click.group()
def tables() -> None:
    """Code tables used by the DMP and MSSanté metadata."""


@tables.command("import")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="folder of the NOS files (SVS XML / FHIR JSON), e.g. ../shared/corpus/nos",
)
@click.option(
    "--to",
    "target",
    default=DEFAULT_TABLES_DIR,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder of the generated xds_*.yaml tables",
)
def import_(source: Path, target: Path) -> None:
    """Rewrite the xds_*.yaml tables from the NOS files; each names its source."""
    try:
        counts = import_tables(source, target)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    for name, count in counts.items():
        click.echo(f"xds_{name}.yaml{count:>8} entries")


COMMANDS = [tables]
