"""The ``passerelle`` command line: run, check, send, messages, schema, certs."""

from __future__ import annotations

import os

import click

from engine import __version__, logs


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="passerelle")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    envvar="PASSERELLE_LOG_LEVEL",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.option(
    "--log-format",
    default="text",
    show_default=True,
    envvar="PASSERELLE_LOG_FORMAT",
    type=click.Choice(["text", "json"]),
)
@click.option(
    "--home",
    envvar="PASSERELLE_CLI_HOME",
    type=click.Path(file_okay=False),
    help="the engine's home (engine.home): where its store and keys are",
)
@click.option(
    "--store",
    envvar="PASSERELLE_CLI_STORE",
    help="the store to use: a SQLite file or a postgresql:// DSN (overrides store:)",
)
def main(log_level: str, log_format: str, home: str | None, store: str | None) -> None:
    """Passerelle: an integration engine for French health interoperability."""
    for name, value in (("PASSERELLE_CLI_HOME", home), ("PASSERELLE_CLI_STORE", store)):
        if value:  # read by every command's configuration loading (and worker processes)
            os.environ[name] = value
    logs.configure(log_level, "json" if log_format == "json" else "text")
    os.umask(0o077)  # what any command creates (store, sandbox keys, outputs) is private
    # worker processes started by 'run --workers' log the same way
    os.environ["PASSERELLE_LOG_LEVEL"], os.environ["PASSERELLE_LOG_FORMAT"] = log_level, log_format


def _register() -> None:
    """Add the ``COMMANDS`` list of every module of this package (one module per group)."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", ()):
            main.add_command(command)


_register()

__all__ = ["main"]
