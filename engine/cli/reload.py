"""``passerelle reload``: make the running engine take up a changed routes.yaml or map.

The file is checked here first, exactly as ``passerelle check`` does; with errors they are
printed and the engine is not disturbed (exit 1). Otherwise the engine found through
``<engine.home>/engine.json`` (:mod:`engine.runstate`) gets SIGHUP, and the command waits
for it to report: ``applied`` (exit 0) or ``refused`` with its diagnostics (exit 1; the
engine keeps its running configuration).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from engine.cli.common import config_option, load_or_exit
from engine.config.types import parse_duration
from engine.runstate import read_state, state_path


def running_state(config: Path) -> dict[str, Any] | None:
    """The state the engine for this configuration's home published, if it is running."""
    return read_state(state_path(load_or_exit(config)))


def request_reload(config: Path, timeout: float) -> dict[str, Any]:
    """Check ``config``, signal the engine, wait for its report; ClickException when there
    is no engine or it does not answer in time. Returns the engine's ``reload`` record."""
    loaded = load_or_exit(config)  # exits 1 with the diagnostics: nothing is signalled
    path = state_path(loaded)
    state = read_state(path)
    if state is None:
        raise click.ClickException(f"no running engine found ({path} absent or stale)")
    engine_config = Path(state["config"])
    if engine_config != config.resolve():
        click.echo(f"note: the engine reads {engine_config}", err=True)
    before = int(state["reload"]["sequence"])
    os.kill(int(state["pid"]), signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = read_state(path)
        if now is not None and int(now["reload"]["sequence"]) > before:
            return dict(now["reload"])
    raise click.ClickException(
        f"the engine (pid {state['pid']}) did not report within {timeout:g}s"
    )


@click.command()
@config_option
@click.option("--timeout", default="30s", show_default=True, help="how long to wait for the engine")
def reload(config: Path, timeout: str) -> None:
    """Check the configuration, then make the running engine reload it (routes, maps,
    destinations, retry); an invalid file is refused and the engine keeps running as is."""
    try:
        seconds = parse_duration(timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timeout") from exc
    outcome = request_reload(config, seconds)
    if outcome["outcome"] != "applied":
        for line in outcome.get("errors", []):
            click.echo(line, err=True)
        click.echo("reload refused by the engine; it keeps its running configuration", err=True)
        sys.exit(1)
    click.echo("reloaded: new routes and maps in force")
    restart = outcome.get("restart_needed") or []
    if restart:
        click.echo(f"needs a restart to take effect: {', '.join(restart)}", err=True)


COMMANDS = [reload]
