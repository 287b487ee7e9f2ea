"""The scale-out queue: task ids on Redis, through dramatiq's Redis broker.

Several processes and machines share one queue: intake nodes enqueue, every process that
runs tasks (``passerelle run`` nodes, ``passerelle worker`` processes) consumes. A message
on Redis is a dramatiq message whose arguments are the task kind and id, nothing else: the
store stays the truth, so a Redis that loses its data (restarted without persistence,
flushed, failed over) loses no work. The store poller of each ``passerelle run`` node
re-enqueues what is runnable in the store and older than ``requeue_after`` (see
:class:`~engine.queue.poller.StorePoller`), and the claims in the store keep two
processes from running the same task at once.

What the broker gives: atomic enqueue and fetch (Lua scripts), a message fetched but not
acknowledged is held for its consumer and requeued by the broker's maintenance when that
consumer stops sending heartbeats (a crashed process). A task is acknowledged when its
handler ends (:meth:`DramatiqQueue.done`).

Threads: one sender thread enqueues (so a slow or absent Redis never blocks the event
loop, and intake never fails because of the queue: a task that cannot be enqueued is
dropped with a warning and found again in the store); one consumer thread fetches and
acknowledges, started by the first :meth:`DramatiqQueue.get` (an intake-only process
never consumes). Delayed tasks (retries) wait on timers in this process; if it dies they
are found again in the store once due.
"""

from __future__ import annotations

import asyncio
import logging
import queue as threadqueue
import threading
import time
from typing import Any

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import BrokerConnectionError
from dramatiq.message import Message
from redis.backoff import NoBackoff
from redis.retry import Retry

from engine.counters import count
from engine.queue.base import Task, TaskKind, WorkQueue

log = logging.getLogger(__name__)

ACTOR = "passerelle_task"
"""The dramatiq actor name on every message: args are (task kind, id)."""
_RETRY_PAUSE = 1.0
_REDIS_ERRORS = (redis.RedisError, BrokerConnectionError, OSError)


class DramatiqQueue(WorkQueue):
    """A :class:`WorkQueue` on Redis. ``prefetch`` bounds the tasks fetched ahead per
    process; ``idle_ms`` is the longest poll pause when the queue is empty.

    Redis does not drop duplicates, so this process does not enqueue again a task it
    enqueued less than ``dedupe_window`` seconds ago and has not taken itself since (the
    store poller offers every runnable task each round; without this, a backlog would
    grow by a copy of itself per round). Past the window the task is enqueued again:
    that is how work Redis lost comes back.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        namespace: str = "passerelle",
        queue_name: str = "tasks",
        prefetch: int = 16,
        idle_ms: int = 100,
        dedupe_window: float = 30.0,
    ) -> None:
        # fail fast, no client-side retries: the threads below retry, the store keeps all
        client = redis.Redis.from_url(
            redis_url, socket_timeout=5, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        self._client = client
        self._broker = RedisBroker(  # type: ignore[no-untyped-call]
            client=client, namespace=namespace, middleware=[]
        )
        self._broker.declare_queue(queue_name)
        self._queue_name = queue_name
        self._prefetch = prefetch
        self._idle_ms = idle_ms
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Queue[tuple[Task, MessageProxy]] = asyncio.Queue()
        self._outbox: threadqueue.SimpleQueue[Task | None] = threadqueue.SimpleQueue()
        self._acks: threadqueue.SimpleQueue[MessageProxy] = threadqueue.SimpleQueue()
        self._taken: dict[Task, list[MessageProxy]] = {}
        self._timers: dict[Task, asyncio.TimerHandle] = {}
        self._stop = threading.Event()
        self._sender: threading.Thread | None = None
        self._consumer: threading.Thread | None = None
        self._closed = False
        self._window = dedupe_window
        self._recent: dict[Task, float] = {}  # enqueued here, not taken here: when
        self._down: set[str] = set()  # which threads currently see Redis down (log once)

    def _start_sender(self) -> None:
        if self._sender is None:
            self._loop = asyncio.get_running_loop()
            self._sender = threading.Thread(target=self._send_loop, name="queue-send", daemon=True)
            self._sender.start()

    async def put(self, task: Task, delay: float = 0.0) -> None:
        if self._closed:
            return
        self._start_sender()
        timer = self._timers.pop(task, None)
        if timer is not None:
            timer.cancel()
        if delay > 0:
            loop = asyncio.get_running_loop()
            self._timers[task] = loop.call_later(delay, self._release, task)
        elif self._fresh(task):
            self._outbox.put(task)

    def _release(self, task: Task) -> None:
        self._timers.pop(task, None)
        if not self._closed and self._fresh(task):
            self._outbox.put(task)

    def _fresh(self, task: Task) -> bool:
        """False when this process enqueued ``task`` within the window (it still waits)."""
        now = time.monotonic()
        while self._recent:  # oldest first: forget what is past the window
            oldest, at = next(iter(self._recent.items()))
            if now - at < self._window:
                break
            del self._recent[oldest]
        if task in self._recent:
            return False
        self._recent[task] = now
        return True

    async def get(self) -> Task:
        if self._consumer is None and not self._closed:
            self._start_sender()
            self._consumer = threading.Thread(
                target=self._consume_loop, name="queue-consume", daemon=True
            )
            self._consumer.start()
        task, proxy = await self._ready.get()
        self._recent.pop(task, None)
        self._taken.setdefault(task, []).append(proxy)
        return task

    def done(self, task: Task) -> None:
        proxies = self._taken.get(task)
        if not proxies:
            return
        self._acks.put(proxies.pop(0))
        if not proxies:
            del self._taken[task]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._stop.set()
        self._outbox.put(None)
        for thread in (self._sender, self._consumer):
            if thread is not None:
                await asyncio.to_thread(thread.join, 10.0)
        self._client.close()

    def depth(self) -> tuple[int, int]:
        return self._ready.qsize(), len(self._timers)

    # --- threads ------------------------------------------------------------------------
    def _send_loop(self) -> None:
        while True:
            batch = [self._outbox.get()]
            while not self._outbox.empty() and len(batch) < 500:
                batch.append(self._outbox.get())
            tasks = [t for t in batch if t is not None]
            try:
                for task in tasks:
                    message: Message[Any] = Message(
                        self._queue_name, ACTOR, (task.kind.value, task.id), {}, {}
                    )
                    self._broker.enqueue(message)
                self._up("send")
            except _REDIS_ERRORS as exc:
                lost = len(tasks) + self._drain_outbox()
                count("queue.enqueue_lost", lost)
                self._unreachable("send", exc, "tasks are found again in the store")
            except Exception:  # a bug here must not stop enqueueing for good
                log.exception("Queue sender failed; the tasks are found again in the store.")
            if len(tasks) < len(batch):  # None: closing
                return

    def _drain_outbox(self) -> int:
        """Drop what waits to be enqueued (Redis is down: the store has it all)."""
        dropped = 0
        while not self._outbox.empty():
            if self._outbox.get() is None:
                self._outbox.put(None)
                break
            dropped += 1
        return dropped

    def _consume_loop(self) -> None:
        consumer = None
        while not self._stop.is_set():
            try:
                if consumer is None:
                    consumer = self._broker.consume(self._queue_name, self._prefetch, self._idle_ms)
                while not self._acks.empty():
                    consumer.ack(self._acks.get())
                proxy = next(consumer)
                self._up("consume")
            except _REDIS_ERRORS as exc:
                consumer = None  # its unacknowledged messages are the broker's to requeue
                while not self._acks.empty():
                    self._acks.get()
                self._unreachable("consume", exc, "consuming resumes when it is back")
                self._stop.wait(_RETRY_PAUSE)
                continue
            except Exception:  # a bug here must not stop consuming for good
                log.exception("Queue consumer failed; starting it again.")
                consumer = None
                self._stop.wait(_RETRY_PAUSE)
                continue
            if proxy is not None:
                self._hand_over(proxy)

    def _hand_over(self, proxy: MessageProxy) -> None:
        try:
            kind, task_id = proxy.args
            task = Task(TaskKind(kind), str(task_id))
        except (TypeError, ValueError):
            log.warning("Queue message that is not a task dropped.", extra={"actor": ACTOR})
            self._acks.put(proxy)
            return
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._ready.put_nowait, (task, proxy))

    def _unreachable(self, who: str, exc: BaseException, consequence: str) -> None:
        if who not in self._down:
            self._down.add(who)
            log.warning(
                "Redis unreachable; %s.",
                consequence,
                extra={"queue": self._queue_name, "error": type(exc).__name__},
            )

    def _up(self, who: str) -> None:
        if who in self._down:
            self._down.discard(who)
            log.info("Redis reachable again.", extra={"queue": self._queue_name, "side": who})


__all__ = ["ACTOR", "DramatiqQueue"]
