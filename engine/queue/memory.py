"""The default queue: an asyncio queue in the engine's process, with delayed tasks."""

from __future__ import annotations

import asyncio

from engine.queue.base import Task, WorkQueue


class InProcessQueue(WorkQueue):
    """Runnable tasks in an :class:`asyncio.Queue`; delayed ones on loop timers.

    A task is never queued twice while it waits (runnable or delayed); once a worker has
    taken it, it may be queued again (e.g. a retry scheduled by that same worker).
    """

    def __init__(self) -> None:
        self._ready: asyncio.Queue[Task] = asyncio.Queue()
        self._waiting: set[Task] = set()
        self._timers: dict[Task, asyncio.TimerHandle] = {}
        self._closed = False

    async def put(self, task: Task, delay: float = 0.0) -> None:
        if self._closed:
            return
        if task in self._timers and delay <= 0:
            self._timers.pop(task).cancel()
            self._waiting.discard(task)
        if task in self._waiting:
            return
        self._waiting.add(task)
        if delay > 0:
            loop = asyncio.get_running_loop()
            self._timers[task] = loop.call_later(delay, self._release, task)
        else:
            self._ready.put_nowait(task)

    def _release(self, task: Task) -> None:
        self._timers.pop(task, None)
        if not self._closed:
            self._ready.put_nowait(task)

    async def get(self) -> Task:
        task = await self._ready.get()
        self._waiting.discard(task)
        return task

    def done(self, task: Task) -> None:
        self._ready.task_done()

    async def close(self) -> None:
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._waiting.clear()

    def depth(self) -> tuple[int, int]:
        return self._ready.qsize(), len(self._timers)


__all__ = ["InProcessQueue"]
