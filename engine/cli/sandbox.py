"""``passerelle sandbox``: the local FHIR platform and DMP endpoint, to rehearse routes.

Also :func:`embedded_sandbox`, which ``passerelle run --sandbox`` wraps around the engine.
Both announce the URLs (and where the DMP's certificates are) before anything else.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import click

from engine.errors import ChannelError
from engine.sandbox.local import (
    DMP_PORT,
    DMP_PORT_VAR,
    FHIR_PORT,
    FHIR_PORT_VAR,
    LocalSandbox,
    sandbox_home,
    sandbox_pki,
    sandbox_ports,
)

F = TypeVar("F", bound=Callable[..., object])


def announce(sandbox: LocalSandbox) -> list[str]:
    """The lines that tell where the sandbox servers are."""
    pki = sandbox.pki
    lines = [
        f"sandbox: FHIR platform  {sandbox.fhir_url}"
        f"  (try: curl '{sandbox.fhir_url}/Patient?identifier=100234')"
    ]
    if sandbox.dmp_url:
        lines += [
            f"sandbox: DMP endpoint   {sandbox.dmp_url}  (ITI-41, mutual TLS)",
            f"sandbox: DMP client certificate {pki.client_crt}, key {pki.client_key},"
            f" CA {pki.ca_crt}; VIHF signing certificate {pki.cachet_crt}",
        ]
    else:
        lines.append(f"sandbox: DMP endpoint not started: {sandbox.dmp_missing}")
    return lines


def prepare_sandbox() -> None:
    """Write the sandbox certificates into ``$PASSERELLE_HOME/sandbox`` if missing."""
    sandbox_pki(sandbox_home())


def _start(home: Path, fhir_port: int, dmp_port: int) -> LocalSandbox:
    try:
        return LocalSandbox(home, fhir_port=fhir_port, dmp_port=dmp_port).start()
    except (ChannelError, OSError) as exc:
        click.echo(f"passerelle: {exc}", err=True)
        sys.exit(1)


@contextlib.contextmanager
def embedded_sandbox(enabled: bool) -> Iterator[LocalSandbox | None]:
    """Run the sandbox (ports from the environment, files in ``$PASSERELLE_HOME/sandbox``)
    around the block when ``enabled``; exit 1 with one line when it cannot start."""
    if not enabled:
        yield None
        return
    try:
        fhir_port, dmp_port = sandbox_ports()
    except ChannelError as exc:
        click.echo(f"passerelle: {exc}", err=True)
        sys.exit(1)
    sandbox = _start(sandbox_home(), fhir_port, dmp_port)
    try:
        for line in announce(sandbox):
            click.echo(line, err=True)
        yield sandbox
    finally:
        sandbox.stop()


def sandbox_flag(*, embedded: bool) -> Callable[[F], F]:
    """``--sandbox`` for ``run`` (``embedded``: the servers run until the command ends) and
    ``check`` (the sandbox certificates are written); acts while the options are parsed,
    so before the configuration is loaded."""

    def act(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value and embedded:
            ctx.with_resource(embedded_sandbox(True))
        elif value:
            prepare_sandbox()

    what = (
        "also run the local FHIR platform and DMP endpoint (see 'passerelle sandbox')"
        if embedded
        else "first write the sandbox certificates, as 'run --sandbox' does"
    )
    return click.option("--sandbox", is_flag=True, expose_value=False, callback=act, help=what)


def _port(name: str, var: str, default: int, what: str) -> Callable[[F], F]:
    return click.option(
        name,
        type=click.IntRange(0, 65535),
        envvar=var,
        default=default,
        show_default=True,
        help=f"{what} port (or {var}); 0 picks a free one",
    )


@click.command()
@_port("--fhir-port", FHIR_PORT_VAR, FHIR_PORT, "FHIR platform")
@_port("--dmp-port", DMP_PORT_VAR, DMP_PORT, "DMP endpoint")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where the sandbox certificates are [default: $PASSERELLE_HOME/sandbox]",
)
def sandbox(fhir_port: int, dmp_port: int, home: Path | None) -> None:
    """Run the local FHIR platform and DMP endpoint on 127.0.0.1 until Ctrl-C.

    The platform checks FHIR R4 resources and transactions like the coordination
    platform; the DMP endpoint checks ITI-41 submissions (mutual TLS, signed VIHF, XDS.b
    schemas, French codes) like the DMP. Their data lives in memory.
    """
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    running = _start(home or sandbox_home(), fhir_port, dmp_port)
    try:
        for line in announce(running):
            click.echo(line)
        click.echo("sandbox: running; Ctrl-C to stop", err=True)
        stop.wait()
    finally:
        running.stop()


COMMANDS = [sandbox]
