"""Local worker processes: started beside intake, restarted when they die, stopped last.

``passerelle run --workers N`` (or ``engine.worker_processes: N``) keeps intake, recovery
and the store poller in the main process and runs routing and deliveries in N children,
each ``python -m engine.cli worker -c routes.yaml --parent-fd FD`` with
``engine.workers`` concurrent tasks, so the machine's cores all work. Every child gets one
end of a socket pair:

* with the in-process queue, the main process serves its queue over it
  (:class:`~engine.queue.pipe.Dispatcher`);
* with a shared queue (dramatiq), children consume the shared queue themselves and the
  socket is only a lifeline.

Either way a child stops (gracefully) when the main process is gone, even after SIGKILL,
because its end of the socket reads EOF. A child that dies is started again (after a
pause that grows while it keeps dying quickly); its unfinished tasks go back to the
queue and the store's claims (``<node>:<pid>``, ``engine.lease``) keep its half-done work
from running twice. SIGHUP in the main process restarts the children one by one
(:meth:`WorkerProcesses.restart_all`), so they load the configuration again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from engine.queue.base import WorkQueue
from engine.queue.pipe import Dispatcher

log = logging.getLogger(__name__)

_QUICK_EXIT = 10.0
"""A child that dies sooner than this after its start is restarted after a growing pause."""
_MAX_PAUSE = 30.0


@dataclass(eq=False)
class _Child:
    index: int
    process: asyncio.subprocess.Process
    started: float
    link: asyncio.Task[None]
    watch: asyncio.Task[None] | None = None
    pause: float = 0.0
    restarting: bool = False


class WorkerProcesses:
    """``count`` children running ``config``; ``feed`` is the queue served to them (None
    when they consume a shared queue); ``capacity`` is each child's concurrent tasks."""

    def __init__(self, count: int, config: Path, feed: WorkQueue | None, capacity: int) -> None:
        self.count = count
        self.config = config
        self.dispatcher = Dispatcher(feed, capacity) if feed is not None else None
        self._children: dict[int, _Child] = {}
        self._stopping = False
        self._restart: asyncio.Task[None] | None = None

    @property
    def pids(self) -> list[int]:
        return [c.process.pid for c in self._children.values()]

    async def start(self) -> None:
        for index in range(self.count):
            await self._spawn(index)

    async def _spawn(self, index: int, pause: float = 0.0) -> None:
        ours, theirs = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "engine.cli",
                "worker",
                "-c",
                str(self.config),
                "--parent-fd",
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        name = f"worker-{index}:{process.pid}"
        if self.dispatcher is not None:
            link = asyncio.create_task(self.dispatcher.serve(name, reader, writer), name=name)
        else:
            link = asyncio.create_task(_hold(reader, writer), name=name)
        child = _Child(index, process, time.monotonic(), link, pause=pause)
        child.watch = asyncio.create_task(self._watch(child), name=f"watch-{name}")
        self._children[index] = child
        log.info("Worker process started.", extra={"worker": index, "pid": process.pid})

    async def _watch(self, child: _Child) -> None:
        code = await child.process.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await child.link  # its unfinished tasks are back in the queue
        if self._stopping:
            return
        pause = 0.0
        if child.restarting:
            log.info("Worker process restarted.", extra={"worker": child.index})
        else:
            quick = time.monotonic() - child.started < _QUICK_EXIT
            pause = min(_MAX_PAUSE, max(0.5, child.pause * 2)) if quick else 0.0
            log.warning(
                "Worker process exited; starting it again.",
                extra={"worker": child.index, "pid": child.process.pid, "exit_code": code},
            )
        await asyncio.sleep(pause)
        if not self._stopping:
            await self._spawn(child.index, pause)

    def restart_all(self) -> None:
        """Restart the children one at a time (reload); a restart already running wins."""
        if self._restart is None or self._restart.done():
            self._restart = asyncio.get_running_loop().create_task(self._rolling_restart())

    async def _rolling_restart(self) -> None:
        for index in sorted(self._children):
            child = self._children[index]
            child.restarting = True
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
            while not self._stopping and self._children.get(index) is child:
                await asyncio.sleep(0.05)

    async def stop(self, grace: float) -> None:
        """SIGTERM every child, wait ``grace`` (+5 s to close), then SIGKILL the rest."""
        self._stopping = True
        if self._restart is not None:
            self._restart.cancel()
        children = list(self._children.values())
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
        waits = [asyncio.create_task(c.process.wait()) for c in children]
        if waits:
            await asyncio.wait(waits, timeout=grace + 5.0)
            for child in children:
                if child.process.returncode is None:
                    log.warning("Worker process killed at stop.", extra={"pid": child.process.pid})
                    with contextlib.suppress(ProcessLookupError):
                        child.process.kill()
            await asyncio.gather(*waits, return_exceptions=True)
        for child in children:
            for task in (child.watch, child.link):
                if task is not None:
                    task.cancel()
            await asyncio.gather(
                *(t for t in (child.watch, child.link) if t is not None), return_exceptions=True
            )
        self._children.clear()


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Keep a lifeline open until the child closes it."""
    try:
        while await reader.read(4096):
            pass
    finally:
        writer.close()


__all__ = ["WorkerProcesses"]
