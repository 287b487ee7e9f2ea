"""Run an ASGI application with uvicorn inside the engine's event loop.

``uvicorn.Server.serve()`` installs process signal handlers, which would take SIGTERM away
from the engine; :class:`AppServer` drives the server's own ``startup`` / ``main_loop`` /
``shutdown`` steps instead, on a socket it binds itself (port 0 works), with its own
``ssl.SSLContext`` (minimum TLS version, client certificates) and without touching the
logging configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl

import uvicorn
from starlette.types import ASGIApp

from engine.errors import ChannelError

_uvicorn_log = logging.getLogger("uvicorn.error")


class AppServer:
    """One listening ASGI server. :meth:`start` binds and serves; :meth:`stop` drains."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        *,
        grace: float = 5.0,
        max_connections: int | None = None,
    ) -> None:
        self.app, self.host, self.port = app, host, port
        self.ssl_context = ssl_context
        self.grace = grace
        self.max_connections = max_connections
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self.address: tuple[str, int] = (host, port)

    async def start(self) -> tuple[str, int]:
        """Bind, start serving and return the bound (host, port). Raises ChannelError."""
        if _uvicorn_log.level == logging.NOTSET:
            _uvicorn_log.setLevel(logging.WARNING)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise ChannelError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=int(self.grace),
            limit_concurrency=self.max_connections,
            server_header=False,
        )
        config.load()
        config.ssl = self.ssl_context
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        self._server, self._socket = server, sock
        self._loop_task = asyncio.create_task(server.main_loop(), name="uvicorn-main-loop")
        name = sock.getsockname()
        self.address = (str(name[0]), int(name[1]))
        return self.address

    async def stop(self) -> None:
        """Stop accepting, let requests in progress finish (``grace`` seconds). Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.should_exit = True
        if self._loop_task is not None:  # it only refreshes the Date header: no need to wait
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        await asyncio.sleep(0)  # let connections closed by their clients unregister
        if server.server_state.connections:
            await server.shutdown(sockets=[self._socket] if self._socket else None)
            return
        for listener in server.servers:  # nothing in flight: skip uvicorn's drain pauses
            listener.close()
        for listener in server.servers:
            await listener.wait_closed()
        if self._socket is not None:
            self._socket.close()


__all__ = ["AppServer"]
