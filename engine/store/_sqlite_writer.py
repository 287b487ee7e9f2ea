"""Group commit for SQLite: one writer thread, many coroutines, one fsync per batch.

Coroutines submit small functions that run against the writer's connection. The writer
takes everything queued, runs each function inside its own SAVEPOINT (one failing
operation does not undo the others), commits once, then resolves every future. Under
load, N concurrent intakes share one ``COMMIT`` and therefore one WAL fsync.

Durability per operation: a batch holding at least one *durable* operation (intake, operator
actions) commits with the store's ``synchronous`` level (``FULL`` by default: fsync before
the commit returns). A batch of bookkeeping only (routing results, delivery attempts)
commits with ``NORMAL``: no fsync of its own. In WAL mode frames are appended in order, so
the next durable commit's fsync persists them too; a power loss can only lose recent
bookkeeping, which makes the engine redo idempotent work (route again, deliver again),
never lose an acknowledged message. A process crash loses nothing either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from engine.errors import StoreError

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], Any]
_Item = tuple[Operation, "asyncio.Future[Any]", asyncio.AbstractEventLoop, bool]

log = logging.getLogger(__name__)


_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


def _resolve_all(outcomes: list[_Outcome]) -> None:
    for future, result, error in outcomes:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class GroupCommitWriter:
    """Owns the only writing connection. Start with :meth:`start`, end with :meth:`stop`.

    Args:
        connect: opens the connection (called in the writer thread).
        max_batch: most operations committed together.
        synchronous: the level of durable batches (``FULL`` or ``NORMAL``); bookkeeping
            batches always use ``NORMAL``.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        max_batch: int = 512,
        synchronous: str = "FULL",
    ) -> None:
        self._connect = connect
        self._max_batch = max_batch
        self._durable_level = synchronous
        self._level = ""
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.batches = 0
        self.operations = 0

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise StoreError(f"opening the store failed: {self._startup_error}") from (
                self._startup_error
            )

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    async def run(self, operation: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """Run ``operation`` in the next batch; return its result once committed.

        ``durable=False`` marks bookkeeping that may be lost on power failure (module doc).

        Raises:
            StoreError: the operation or the commit failed (sqlite errors are translated).
        """
        if not self._thread.is_alive():
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((operation, future, loop, durable))
        return await future

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # reported to start()
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
                stop = False
                while len(batch) < self._max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stop = True
                        break
                    batch.append(item)
                self._commit_batch(conn, batch)
                if stop:
                    return
        finally:
            conn.close()

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[_Item]) -> None:
        results: list[tuple[Any, BaseException | None]] = []
        level = self._durable_level if any(item[3] for item in batch) else "NORMAL"
        try:
            if level != self._level:  # a connection setting, applied at COMMIT
                conn.execute(f"PRAGMA synchronous = {level}")
                self._level = level
            conn.execute("BEGIN IMMEDIATE")
            for operation, _, _, _ in batch:
                conn.execute("SAVEPOINT op")
                try:
                    results.append((operation(conn), None))
                    conn.execute("RELEASE op")
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    err = exc if isinstance(exc, StoreError) else StoreError(f"store write: {exc}")
                    err.__cause__ = exc
                    results.append((None, err))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("Store commit failed.", extra={"error": str(exc), "batch": len(batch)})
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failure = StoreError(f"store commit failed: {exc}")
            failure.__cause__ = exc
            results = [(None, failure)] * len(batch)
        self.batches += 1
        self.operations += len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for (_, future, loop, _), (result, error) in zip(batch, results, strict=True):
            by_loop.setdefault(loop, []).append((future, result, error))
        for loop, outcomes in by_loop.items():  # one wake-up per loop, not per operation
            # RuntimeError: the caller's loop is closed, so nobody is waiting any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve_all, outcomes)


__all__ = ["GroupCommitWriter"]
