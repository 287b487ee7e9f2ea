"""Serving the console: uvicorn inside the caller's event loop (the engine's in
``passerelle run``, its own in ``passerelle console``), on a socket bound here, over TLS
or mutual TLS when ``console.tls`` says so (contexts from :mod:`engine.tls`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from engine.config.console import ConsoleSettings
from engine.config.models import Config
from engine.console.api.bootstrap import ensure_admin
from engine.console.app import build_app
from engine.console.context import ConsoleContext
from engine.errors import ChannelError, ConfigError, StoreError
from engine.tls import server_context

if TYPE_CHECKING:
    from engine.app import Engine

log = logging.getLogger(__name__)


def tls_context(settings: ConsoleSettings) -> ssl.SSLContext | None:
    """The server context of ``console.tls`` (client certificates required when
    ``client_ca_file`` is set), or None without TLS. Raises ChannelError."""
    tls = settings.tls
    if tls is None:
        return None
    return server_context(
        cert_file=tls.cert_file,
        key_file=tls.key_file,
        client_ca_file=tls.client_ca_file,
        error="console: cannot load the TLS configuration",
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted connections inherit it: without it, uvicorn's separate writes of the
        # head and the body of a keep-alive answer wait ~40 ms for the peer's delayed ACK
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ChannelError(f"console: cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


class _Server(uvicorn.Server):
    """uvicorn without its signal handling: the process owner (the engine, the
    ``console`` command) handles SIGTERM/SIGINT and calls :meth:`ConsoleServer.stop`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ConsoleServer:
    """The console listener. :meth:`start` binds (``port`` 0: any free port, see
    :attr:`port`) and serves in a task of the running loop; :meth:`stop` ends it."""

    def __init__(self, ctx: ConsoleContext, *, home: Path | None = None) -> None:
        self.ctx = ctx
        self.settings = ctx.config.console
        self.home = home if home is not None else ctx.config.engine.home
        self.port = 0
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.tls else "http"
        host = self.settings.listen[0]
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        """Create the first admin if needed, bind, and serve. Raises ChannelError."""
        context = tls_context(self.settings)
        await ensure_admin(self.ctx.store, self.home, self.ctx.now())
        host, port = self.settings.listen
        sock = _bind(host, port)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            build_app(self.ctx),
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            proxy_headers=False,
        )
        config.load()
        config.ssl = context
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise ChannelError("console: the server stopped at start")
            await asyncio.sleep(0.01)
        log.info("Console started.", extra={"url": self.url})

    async def stop(self) -> None:
        """Close the listener and finish in-flight requests; idempotent."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = self._task = None


class EngineConsole:
    """The console inside ``passerelle run`` (an :class:`engine.app.Service`).

    It serves the engine's store with the engine's operator controls as runtime, and
    follows configuration reloads. A console that cannot start (address in use, bad
    certificate) is logged as an ERROR and the engine runs on without it: message flow
    never depends on the console.
    """

    def __init__(self, engine: Engine, config: Config, config_path: Path | None) -> None:
        self.engine = engine
        self.config = config
        self.config_path = config_path
        self.server: ConsoleServer | None = None

    async def start(self) -> None:
        from engine.patient_secret import patient_secret

        try:
            secret = patient_secret(self.config, create=True)
        except ConfigError as exc:
            log.error("Patient search is off in the console.", extra={"error": str(exc)})
            secret = None
        ctx = ConsoleContext(
            store=self.engine.store,
            config=self.config,
            config_path=self.config_path,
            patient_secret=secret,
            runtime=self.engine.controls,
        )
        self.engine.reload_hooks.append(lambda: self._follow(ctx))
        server = ConsoleServer(ctx)
        try:
            await server.start()
        except (ChannelError, StoreError, OSError) as exc:
            host, port = self.config.console.listen
            log.error(
                "Console not started; the engine runs without it (set console.listen, or"
                " console.enabled: false).",
                extra={"listen": f"{host}:{port}", "error": str(exc)},
            )
            return
        self.server = server

    def _follow(self, ctx: ConsoleContext) -> None:
        reloader = self.engine.reloader
        if reloader is not None:
            ctx.config = reloader.config

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None


def attach_console(engine: Engine, config: Config, config_path: Path | None) -> None:
    """Serve the console in ``engine`` when ``console.enabled`` (the default)."""
    if config.console.enabled:
        engine.services.append(EngineConsole(engine, config, config_path))


__all__ = ["ConsoleServer", "EngineConsole", "attach_console", "tls_context"]
