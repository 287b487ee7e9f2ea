"""The store poller: how a running engine notices work it did not queue itself.

Work can appear in the store without passing through this engine's queue: an operator's
``passerelle replay`` or ``release`` (another process), a key released by a dead letter,
a task lost to a store error. Every ``interval`` seconds the poller asks the store for the
runnable work (:meth:`~engine.store.base.Store.runnable`: messages waiting to be routed,
due deliveries not waiting behind their ordering key) and queues it. The queue ignores
tasks already waiting and the pipeline never runs a task beside itself, so queueing known
work again is harmless. The query reads two partial indexes; it is cheap when idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from engine.errors import StoreError
from engine.message import utcnow
from engine.queue.base import Task, TaskKind, WorkQueue
from engine.store.base import Store

log = logging.getLogger(__name__)


class StorePoller:
    """Queues the store's runnable work every ``interval`` seconds (``batch`` at most of
    each kind per round). :meth:`start` once, :meth:`stop` once."""

    def __init__(
        self, store: Store, queue: WorkQueue, interval: float = 1.0, batch: int = 1000
    ) -> None:
        if interval <= 0:
            raise ValueError("the poll interval must be positive")
        self.store = store
        self.queue = queue
        self.interval = interval
        self.batch = batch
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store-poller")

    async def poll_once(self) -> int:
        """Queue the runnable work once; return how many tasks were offered to the queue."""
        work = await self.store.runnable(utcnow(), self.batch)
        for message_id in work.message_ids:
            await self.queue.put(Task(TaskKind.PROCESS, message_id))
        for delivery_id, _ in work.deliveries:
            await self.queue.put(Task(TaskKind.DELIVER, delivery_id))
        return len(work.message_ids) + len(work.deliveries)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.poll_once()
            except StoreError as exc:
                log.warning("Store poll failed; trying again.", extra={"error": str(exc)})

    async def stop(self) -> None:
        """Stop polling. Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


__all__ = ["StorePoller"]
