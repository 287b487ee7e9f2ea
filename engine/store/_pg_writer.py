"""Group commit for PostgreSQL intake: many concurrent ``accept`` calls, one commit.

Intake is the only write whose caller waits for durability (the ACK follows it). Each
waiting insert is queued; one task takes everything queued (up to ``max_batch``), inserts
the batch in one transaction with ``executemany`` (pipelined by psycopg) and commits once
with ``synchronous_commit = on``, so N concurrent intakes share one WAL flush. A message
whose id already exists fails alone (``ON CONFLICT DO NOTHING`` per row); the rest of the
batch is committed. Other writes are short transactions of their own (see
:mod:`engine.store.postgres`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from engine.errors import StoreError
from engine.message import Envelope, MessageState
from engine.store.base import INTAKE_KEY
from engine.store.crypto import PayloadCipher

log = logging.getLogger(__name__)

_INSERT = (
    "INSERT INTO messages (id, channel, received_at, content_type, raw, metadata, control_id,"
    " intake_key, state, reason, updated_at, key_id)"
    " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
    " ON CONFLICT (id) DO NOTHING RETURNING id"
)
_TRANSITION = (
    "INSERT INTO transitions (message_id, at, from_state, to_state, reason)"
    " VALUES (%s,%s,NULL,%s,%s)"
)

_Item = tuple[Envelope, MessageState, str, "asyncio.Future[None]"]


class IntakeWriter:
    """Commits queued intakes in batches. :meth:`start` in the store's loop, :meth:`stop`."""

    def __init__(
        self, pool: AsyncConnectionPool[Any], cipher: PayloadCipher, max_batch: int = 512
    ) -> None:
        self._pool = pool
        self._cipher = cipher
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.operations = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="store-intake-writer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._queue.put_nowait(None)
            await task

    async def insert(self, envelope: Envelope, state: MessageState, reason: str) -> None:
        """Commit one message; return once it is durable.

        Raises:
            StoreError: the id exists already, the commit failed, or the store is closed.
        """
        if self._task is None:
            raise StoreError("the store is closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((envelope, state, reason, future))
        await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            await self._commit(batch)
            if stop:
                return

    async def _commit(self, batch: list[_Item]) -> None:
        rows = [_row(e, state, reason, self._cipher) for e, state, reason, _ in batch]
        errors: list[BaseException | None]
        try:
            async with self._pool.connection() as conn, conn.transaction():
                # whatever the server's default: the ACK waits for this flush
                await conn.execute("SET LOCAL synchronous_commit = on")
                cur = conn.cursor()
                await cur.executemany(_INSERT, rows, returning=True)
                inserted: list[bool] = []
                while True:
                    inserted.append(await cur.fetchone() is not None)
                    if not cur.nextset():
                        break
                await cur.executemany(
                    _TRANSITION,
                    [(r[0], r[2], r[8], r[9]) for r, ok in zip(rows, inserted, strict=True) if ok],
                )
            errors = [
                None if ok else StoreError(f"store write: message {r[0]} exists already")
                for r, ok in zip(rows, inserted, strict=True)
            ]
        except (psycopg.Error, OSError) as exc:
            log.error("Store commit failed.", extra={"error": str(exc), "batch": len(batch)})
            failure = StoreError(f"store commit failed: {exc}")
            failure.__cause__ = exc
            errors = [failure] * len(batch)
        self.batches += 1
        self.operations += len(batch)
        for (_, _, _, future), error in zip(batch, errors, strict=True):
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(None)


def _row(
    envelope: Envelope, state: MessageState, reason: str, cipher: PayloadCipher
) -> tuple[Any, ...]:
    raw, key_id = cipher.seal(envelope.raw, f"message {envelope.id}")
    return (
        envelope.id,
        envelope.channel,
        envelope.received_at,
        envelope.content_type,
        raw,
        Jsonb(dict(envelope.metadata)),
        envelope.metadata.get("hl7.control_id"),
        envelope.metadata.get(INTAKE_KEY),
        state.value,
        reason,
        envelope.received_at,
        key_id,
    )


__all__ = ["IntakeWriter"]
