"""The worker process: routing and deliveries without intake (``passerelle worker``).

A worker builds the engine of ``routes.yaml`` in the ``worker`` role (store, router,
transforms, destinations, ``engine.workers`` concurrent tasks; no channel, no poller) and
takes its tasks from:

* its parent's queue, over the socket ``--parent-fd`` (started by ``passerelle run
  --workers N``; see :mod:`engine.supervisor`);
* or the shared queue (``queue: {backend: dramatiq}``), on this machine or any other
  sharing the store, with or without a parent.

It stops gracefully on SIGTERM/SIGINT, or when its parent is gone (the socket reads EOF):
running tasks get ``engine.shutdown_grace``, unfinished work stays in the store. Its
claims in the store are ``<node>:<pid>``.
"""

from __future__ import annotations

import asyncio
import socket

from engine.app import Role
from engine.config.models import Config
from engine.errors import ConfigError
from engine.queue.base import WorkQueue
from engine.queue.pipe import PipeQueue


async def serve(config: Config, parent_fd: int | None) -> None:
    """Run a worker until a stop signal or, with a parent, until the parent is gone.

    Raises:
        ConfigError: no parent and no shared queue (nothing would feed this worker).
    """
    from engine.assembly import build_engine

    if parent_fd is None and config.queue.backend == "memory":
        raise ConfigError(
            "a worker without a parent needs a shared queue (queue: {backend: dramatiq}); "
            "local worker processes are started by 'passerelle run --workers N'"
        )
    queue: WorkQueue | None = None
    parent_gone = asyncio.Event()
    lifeline: asyncio.Task[None] | None = None
    if parent_fd is not None:
        reader, writer = await asyncio.open_connection(sock=socket.socket(fileno=parent_fd))
        if config.queue.backend == "memory":
            pipe = PipeQueue(reader, writer)
            pipe.start()
            parent_gone = pipe.lost
            queue = pipe
        else:
            lifeline = asyncio.create_task(_watch_lifeline(reader, parent_gone), name="lifeline")
    engine = build_engine(config, role=Role.WORKER, queue=queue, worker_processes=0)
    try:
        await engine.run(until=parent_gone)
    finally:
        if lifeline is not None:
            lifeline.cancel()


async def _watch_lifeline(reader: asyncio.StreamReader, gone: asyncio.Event) -> None:
    try:
        while await reader.read(4096):
            pass
    except ConnectionError:
        pass
    gone.set()


__all__ = ["serve"]
