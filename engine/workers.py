"""A pool of asyncio worker tasks pulling from a :class:`WorkQueue`.

Shutdown (:meth:`WorkerPool.stop`): workers stop taking tasks at once; tasks in flight get
``grace`` seconds to finish, then are cancelled. A cancelled task leaves its message or
delivery unfinished in the store, and the next start resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from engine.queue.base import QueueClosed, Task, WorkQueue

log = logging.getLogger(__name__)


class WorkerPool:
    def __init__(
        self, queue: WorkQueue, handler: Callable[[Task], Coroutine[Any, Any, None]], size: int = 4
    ) -> None:
        self._queue = queue
        self._handler = handler
        self._size = size
        self._workers: list[asyncio.Task[None]] = []
        self._busy: dict[int, asyncio.Task[None]] = {}
        self._stopping = False

    def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(i), name=f"worker-{i}") for i in range(self._size)
        ]

    async def _work(self, index: int) -> None:
        while not self._stopping:
            try:
                task = await self._queue.get()
            except QueueClosed:
                return
            run = asyncio.create_task(self._handler(task), name=f"{task.kind}-{task.id}")
            self._busy[index] = run
            try:
                await asyncio.shield(run)
            except asyncio.CancelledError:
                if not run.done():
                    raise
            except Exception:  # handler bugs and store failures: the store keeps the task
                log.exception("Task failed.", extra={"task": task.kind.value, "id": task.id})
            finally:
                self._busy.pop(index, None)
                self._queue.done(task)

    @property
    def in_flight(self) -> int:
        return len(self._busy)

    async def stop(self, grace: float) -> None:
        """Stop taking tasks, wait up to ``grace`` seconds for running ones, cancel the rest."""
        self._stopping = True
        running = list(self._busy.values())
        for worker in self._workers:
            worker.cancel()
        if running:
            _, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning(
                    "Tasks cancelled at shutdown; they resume at next start.",
                    extra={"count": len(pending)},
                )
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._workers, return_exceptions=True)


__all__ = ["WorkerPool"]
