"""The store poller: how a running engine notices work it did not queue itself.

Work can appear in the store without passing through this engine's queue: an operator's
``passerelle replay`` or ``release`` (another process), a key released by a dead letter,
a task lost to a store error. Every ``interval`` seconds the poller asks the store for the
runnable work (:meth:`~engine.store.base.Store.runnable`: messages waiting to be routed,
due deliveries not waiting behind their ordering key) and queues it. The queue ignores
tasks already waiting and the pipeline never runs a task beside itself, so queueing known
work again is harmless. The query reads two partial indexes; it is cheap when idle.

With a shared queue that does not drop duplicates (dramatiq on Redis), ``min_age`` keeps
the poller from enqueueing again what was just enqueued: a message is offered once it is
older than ``min_age`` (its id is a ULID, which carries its creation time), a delivery
once it has been due for that long (or, never attempted, created that long ago).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from engine.errors import StoreError
from engine.message import utcnow
from engine.queue.base import Task, TaskKind, WorkQueue
from engine.store.base import Store

log = logging.getLogger(__name__)
_CROCKFORD = {c: i for i, c in enumerate("0123456789ABCDEFGHJKMNPQRSTVWXYZ")}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def id_time(identifier: str) -> datetime:
    """The creation time a ULID carries (its first 10 characters, milliseconds); the epoch
    for an id that is not a ULID (so it counts as old)."""
    try:
        ms = 0
        for char in identifier[:10]:
            ms = ms * 32 + _CROCKFORD[char]
    except KeyError:
        return _EPOCH
    return _EPOCH + timedelta(milliseconds=ms) if len(identifier) == 26 else _EPOCH


class StorePoller:
    """Queues the store's runnable work every ``interval`` seconds (``batch`` at most of
    each kind per round). :meth:`start` once, :meth:`stop` once."""

    def __init__(
        self,
        store: Store,
        queue: WorkQueue,
        interval: float = 1.0,
        batch: int = 1000,
        min_age: float = 0.0,
    ) -> None:
        if interval <= 0:
            raise ValueError("the poll interval must be positive")
        self.store = store
        self.queue = queue
        self.interval = interval
        self.batch = batch
        self.min_age = min_age
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store-poller")

    async def poll_once(self) -> int:
        """Queue the runnable work once; return how many tasks were offered to the queue."""
        now = utcnow()
        work = await self.store.runnable(now, self.batch)
        cutoff = now - timedelta(seconds=self.min_age)
        offered = 0
        for message_id in work.message_ids:
            if self.min_age <= 0 or id_time(message_id) <= cutoff:
                await self.queue.put(Task(TaskKind.PROCESS, message_id))
                offered += 1
        for delivery_id, due in work.deliveries:
            if self.min_age <= 0 or (due or id_time(delivery_id)) <= cutoff:
                await self.queue.put(Task(TaskKind.DELIVER, delivery_id))
                offered += 1
        return offered

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


__all__ = ["StorePoller", "id_time"]
