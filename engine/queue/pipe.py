"""The parent's queue served to local worker processes over a socket pair.

``passerelle run --workers N`` keeps intake in the main process and runs tasks in N
children. The main process keeps the queue (an :class:`~engine.queue.memory.InProcessQueue`
or any other); a :class:`Dispatcher` hands its tasks to the children, at most ``capacity``
in flight per child, and each child sees a :class:`PipeQueue`. One line per event, task
ids only (ULIDs, never payloads)::

    parent -> child   R <kind> <id>            run this task
    child  -> parent  D <kind> <id>            the task ended (successfully or not)
    child  -> parent  P <kind> <id> <delay>    queue this task (after <delay> seconds)

A task is never run in two children at once: one handed out again while it runs is
held and queued once more when it ends (as the in-process pipeline does). When a child's
connection ends (it exited or crashed), the tasks it had not finished go back to the
queue; the store's claims keep a dead child's half-done work safe until its lease ends.
When the parent's connection ends, the child's queue raises :class:`QueueClosed` in
:meth:`PipeQueue.get` and sets :attr:`PipeQueue.lost`, so the child stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from engine.queue.base import QueueClosed, Task, TaskKind, WorkQueue

log = logging.getLogger(__name__)


def _line(op: str, task: Task, *extra: str) -> bytes:
    return " ".join((op, task.kind.value, task.id, *extra)).encode() + b"\n"


def _parse(line: bytes) -> tuple[str, Task, list[str]]:
    op, kind, task_id, *rest = line.decode("ascii").split()
    return op, Task(TaskKind(kind), task_id), rest


@dataclass(eq=False)
class _Child:
    name: str
    writer: asyncio.StreamWriter
    credits: asyncio.Semaphore
    running: set[Task] = field(default_factory=set)


class Dispatcher:
    """Feeds the tasks of ``queue`` to the children connected with :meth:`serve`."""

    def __init__(self, queue: WorkQueue, capacity: int) -> None:
        self.queue = queue
        self.capacity = capacity
        self._running: dict[Task, _Child] = {}
        self._again: set[Task] = set()

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def serve(
        self, name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Feed one child until its connection ends; then queue what it had not finished."""
        child = _Child(name, writer, asyncio.Semaphore(self.capacity))
        feeder = asyncio.create_task(self._feed(child), name=f"feed-{name}")
        try:
            await self._read(child, reader)
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
            for task in sorted(child.running, key=lambda t: t.id):
                await self._ended(child, task)
                await self.queue.put(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _feed(self, child: _Child) -> None:
        while True:
            await child.credits.acquire()
            task = await self.queue.get()
            self.queue.done(task)
            if task in self._running:  # running in a child: run it again once it ends
                self._again.add(task)
                child.credits.release()
                continue
            self._running[task] = child
            child.running.add(task)
            try:
                child.writer.write(_line("R", task))
                await child.writer.drain()
            except (ConnectionError, RuntimeError):
                return  # the reader sees the end and puts the task back

    async def _read(self, child: _Child, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await reader.readline()
            except ConnectionError:  # the child is gone (a write to it may find out first)
                return
            if not line:
                return
            try:
                op, task, rest = _parse(line)
            except (ValueError, UnicodeDecodeError):
                log.warning("Bad line from a worker process ignored.", extra={"worker": child.name})
                continue
            if op == "D":
                if task in child.running:
                    child.credits.release()
                    await self._ended(child, task)
            elif op == "P":
                await self.queue.put(task, float(rest[0]) if rest else 0.0)

    async def _ended(self, child: _Child, task: Task) -> None:
        child.running.discard(task)
        if self._running.get(task) is child:
            del self._running[task]
        if task in self._again:
            self._again.discard(task)
            await self.queue.put(task)


class PipeQueue(WorkQueue):
    """A child's view of the parent's queue (see the module docstring)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._ready: asyncio.Queue[Task | None] = asyncio.Queue()
        self._listener: asyncio.Task[None] | None = None
        self.lost = asyncio.Event()
        self._closed = False

    def _listen(self) -> None:
        if self._listener is None:
            self._listener = asyncio.create_task(self._read(), name="pipe-queue")

    async def _read(self) -> None:
        try:
            while line := await self._reader.readline():
                op, task, _ = _parse(line)
                if op == "R":
                    self._ready.put_nowait(task)
        except (ConnectionError, ValueError, UnicodeDecodeError) as exc:
            log.warning("Queue connection failed.", extra={"error": type(exc).__name__})
        self.lost.set()
        self._ready.put_nowait(None)

    async def put(self, task: Task, delay: float = 0.0) -> None:
        if self._closed or self.lost.is_set():
            return  # the store has it; the parent's poller finds it
        self._writer.write(_line("P", task, f"{delay:.3f}"))
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()

    async def get(self) -> Task:
        self._listen()
        task = await self._ready.get()
        if task is None:
            self._ready.put_nowait(None)  # every waiting worker learns it
            raise QueueClosed("the parent process is gone")
        return task

    def done(self, task: Task) -> None:
        if not self._closed and not self.lost.is_set():
            self._writer.write(_line("D", task))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    def depth(self) -> tuple[int, int]:
        return self._ready.qsize(), 0

    def start(self) -> None:
        """Start listening (before the first :meth:`get`) so :attr:`lost` is watched."""
        self._listen()


__all__ = ["Dispatcher", "PipeQueue"]
