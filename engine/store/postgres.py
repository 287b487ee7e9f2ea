"""PostgreSQL store: several engines (nodes) share one database.

Intake goes through a group-commit writer (:mod:`engine.store._pg_writer`): concurrent
``accept`` calls share one transaction and one WAL flush, and return once it is durable.
Every other write is one short transaction on a pooled connection that locks the rows it
changes; pipeline bookkeeping (processing, routing, attempts, claims) commits with
``synchronous_commit = off`` (the next durable commit flushes it: a database crash can
only lose recent bookkeeping, which makes the engine redo idempotent work, never lose an
acknowledged message), operator actions with ``on`` (whatever the server's default).
Claims (leases) and advisory locks let nodes share work: see :mod:`engine.store._pg_ops`.
The console's part (overview counters, patient index, accounts, audit…) is
:mod:`engine.store._pg_console`.

The schema is created or migrated by :meth:`PostgresStore.open` (``schema_version``
table, forward steps in :mod:`engine.store._pg_schema`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg_pool import AsyncConnectionPool

from engine.errors import StoreError
from engine.message import DeliveryState, Envelope, MessageState
from engine.store import _pg_destinations as destinations
from engine.store import _pg_ops as ops
from engine.store import _pg_payloads as payloads
from engine.store import _pg_read as read
from engine.store import _pg_search as search
from engine.store._pg_console import PgConsole
from engine.store._pg_lock import lock_node
from engine.store._pg_ops import Conn
from engine.store._pg_schema import migrate
from engine.store._pg_writer import IntakeWriter
from engine.store.base import (
    DEFAULT_LEASE,
    Attempt,
    AttemptPayload,
    Blocker,
    DeliveryRecord,
    DestinationStatus,
    KeyFunction,
    MessageQuery,
    ReplayResult,
    RoutingOutcome,
    Store,
    StoredMessage,
    Transition,
    Unfinished,
)
from engine.store.crypto import CLEAR, PayloadCipher

T = TypeVar("T")
_DEADLOCK_RETRIES = 5


class PostgresStore(PgConsole, Store):
    """A :class:`Store` in a PostgreSQL database.

    Args:
        dsn: libpq connection string or URI (``postgresql://user@host:5432/passerelle``).
        min_size, max_size: the connection pool's bounds.
        timeout: seconds to wait for a pooled connection (then StoreError).
        cipher: seals payloads at rest (default: stored in clear).
    """

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 2,
        max_size: int = 10,
        timeout: float = 30.0,
        cipher: PayloadCipher = CLEAR,
    ) -> None:
        self.dsn = dsn
        self.cipher = cipher
        self._pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True},
            open=False,
            name="passerelle-store",
        )
        self._timeout = timeout
        self._writer = IntakeWriter(self._pool, cipher)
        self._engine_lock: psycopg.AsyncConnection[Any] | None = None
        self._opened = False

    # --- plumbing ---------------------------------------------------------------------
    async def _tx(
        self,
        operation: Callable[[Conn], Awaitable[T]],
        *,
        durable: bool = False,
        snapshot: bool = False,
    ) -> T:
        """Run ``operation`` in one transaction (REPEATABLE READ READ ONLY if ``snapshot``;
        without an fsync wait unless ``durable``). A transaction PostgreSQL aborted as a
        deadlock victim (nodes locking the same rows in another order) runs again, after
        a short random pause."""
        if not self._opened:
            raise StoreError("the store is closed")
        for attempt in range(1, _DEADLOCK_RETRIES + 1):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    if snapshot:
                        await conn.execute(
                            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
                        )
                    else:
                        level = "on" if durable else "off"
                        await conn.execute(f"SET LOCAL synchronous_commit = {level}")
                    return await operation(conn)
            except psycopg.errors.DeadlockDetected as exc:
                if attempt == _DEADLOCK_RETRIES:
                    raise StoreError(f"store: {exc}") from exc
                await asyncio.sleep(random.uniform(0, 0.05 * attempt))  # break the symmetry
            except psycopg.Error as exc:
                raise StoreError(f"store: {exc}") from exc
        raise AssertionError("unreachable")

    async def _read(self, query: Callable[[Conn], Awaitable[T]]) -> T:
        if not self._opened:
            raise StoreError("the store is closed")
        try:
            async with self._pool.connection() as conn:
                return await query(conn)
        except psycopg.Error as exc:
            raise StoreError(f"store read: {exc}") from exc

    async def lock_engine(self, node: str) -> None:
        if self._engine_lock is None:
            self._engine_lock = await lock_node(self.dsn, node, self._timeout)

    async def open(self) -> None:
        try:
            await self._pool.open(wait=True, timeout=self._timeout)
            async with self._pool.connection() as conn:
                await migrate(conn)
        except psycopg.Error as exc:
            await self._pool.close()
            raise StoreError(f"opening the PostgreSQL store: {exc}") from exc
        except BaseException:
            await self._pool.close()
            raise
        self._writer.start()
        self._opened = True

    async def close(self) -> None:
        lock, self._engine_lock = self._engine_lock, None
        if self._opened:
            self._opened = False
            await self._writer.stop()
            await self._pool.close()
        if lock is not None:
            await lock.close()  # the session's advisory lock goes with it

    # --- intake -----------------------------------------------------------------------
    async def accept(self, envelope: Envelope) -> None:
        await self._writer.insert(envelope, MessageState.RECEIVED, "")

    async def reject(self, envelope: Envelope, reason: str) -> None:
        await self._writer.insert(envelope, MessageState.REJECTED, reason)

    # --- processing -------------------------------------------------------------------
    async def start_processing(
        self, message_id: str, *, owner: str | None = None, lease: float = DEFAULT_LEASE
    ) -> StoredMessage | None:
        return await self._tx(
            lambda c: ops.start_processing(c, message_id, owner, lease, self.cipher)
        )

    async def finish_routing(
        self, message_id: str, outcome: RoutingOutcome
    ) -> list[DeliveryRecord]:
        return await self._tx(lambda c: ops.finish_routing(c, message_id, outcome))

    async def fail_message(self, message_id: str, reason: str) -> None:
        await self._tx(lambda c: ops.fail_message(c, message_id, reason))

    async def claim_delivery(
        self, delivery_id: str, *, owner: str, lease: float = DEFAULT_LEASE
    ) -> DeliveryRecord | None:
        return await self._tx(lambda c: ops.claim_delivery(c, delivery_id, owner, lease))

    async def record_attempt(
        self,
        delivery_id: str,
        outcome: DeliveryState,
        detail: str,
        *,
        next_attempt_at: datetime | None = None,
        dedupe_key: str | None = None,
        release: bool = False,
        sent: bytes | None = None,
        response: bytes | None = None,
    ) -> DeliveryRecord:
        async def op(c: Conn) -> DeliveryRecord:
            d, number = await ops.record_attempt(
                c, delivery_id, outcome, detail, next_attempt_at, dedupe_key, release
            )
            await payloads.save_attempt_payload(c, self.cipher, d.id, number, sent, response)
            return d

        return await self._tx(op)

    async def requeue_delivery(self, delivery_id: str, reason: str) -> DeliveryRecord:
        return await self._tx(lambda c: ops.requeue_delivery(c, delivery_id, reason), durable=True)

    async def release_delivery(self, delivery_id: str, reason: str) -> DeliveryRecord:
        return await self._tx(lambda c: ops.release(c, delivery_id, reason), durable=True)

    async def request_replay(
        self,
        message_id: str,
        *,
        destination: str | None = None,
        resend_sent: bool = False,
        reason: str = "replayed by operator",
    ) -> ReplayResult:
        return await self._tx(
            lambda c: ops.request_replay(c, message_id, destination, resend_sent, reason),
            durable=True,
        )

    # --- ordering ---------------------------------------------------------------------
    async def order_blocker(
        self, delivery: DeliveryRecord, key_of: KeyFunction | None = None
    ) -> Blocker | None:
        if delivery.order_key is None:
            return None
        return await self._tx(
            lambda c: read.order_blocker(c, delivery, key_of, self.cipher), snapshot=True
        )

    async def next_in_order(self, destination: str, order_key: str) -> DeliveryRecord | None:
        return await self._read(lambda c: read.next_in_order(c, destination, order_key))

    async def runnable(self, now: datetime, limit: int = 1000) -> Unfinished:
        return await self._read(lambda c: read.runnable(c, now, limit))

    # --- reading ----------------------------------------------------------------------
    async def get_message(self, message_id: str) -> StoredMessage:
        return await self._read(lambda c: read.message(c, message_id, self.cipher))

    async def history(self, message_id: str) -> list[Transition]:
        return await self._read(lambda c: read.history(c, message_id))

    async def deliveries(self, message_id: str) -> list[DeliveryRecord]:
        return await self._read(lambda c: read.deliveries_of(c, message_id))

    async def get_delivery(self, delivery_id: str) -> DeliveryRecord:
        return await self._read(lambda c: read.delivery(c, delivery_id))

    async def attempts(self, delivery_id: str) -> list[Attempt]:
        return await self._read(lambda c: read.attempts(c, delivery_id))

    async def attempt_payloads(self, delivery_id: str) -> list[AttemptPayload]:
        return await self._read(lambda c: payloads.attempt_payloads(c, self.cipher, delivery_id))

    async def rotate_payloads(self, batch: int = 500) -> int:
        total = 0
        while done := await self._tx(
            lambda c: payloads.rotate_batch(c, self.cipher, batch), durable=True
        ):
            total += done
        return total

    async def purge_payloads(
        self,
        before: datetime,
        *,
        channel: str | None = None,
        exclude: Sequence[str] = (),
        limit: int = 500,
    ) -> int:
        return await self._tx(
            lambda c: payloads.purge_batch(c, before, channel, exclude, limit), durable=True
        )

    async def list_messages(self, query: MessageQuery) -> list[StoredMessage]:
        found: list[StoredMessage] = await self._read(
            lambda c: search.list_messages(c, query, True, self.cipher)
        )
        return found

    async def message_ids(self, query: MessageQuery) -> list[str]:
        found: list[str] = await self._read(
            lambda c: search.list_messages(c, query, False, self.cipher)
        )
        return found

    async def count_by_state(self) -> dict[MessageState, int]:
        return await self._read(read.count_by_state)

    async def unfinished(self) -> Unfinished:
        return await self._read(read.unfinished)

    async def intake_keys(self, channel: str, prefix: str) -> set[str]:
        return await self._read(lambda c: read.intake_keys(c, channel, prefix))

    async def record_probe(
        self, delivery_id: str, detail: str, *, next_attempt_at: datetime
    ) -> DeliveryRecord:
        return await self._tx(
            lambda c: destinations.record_probe(c, delivery_id, detail, next_attempt_at)
        )

    # --- destinations -----------------------------------------------------------------
    async def save_destination_status(self, status: DestinationStatus) -> None:
        await self._tx(lambda c: destinations.save_status(c, status))

    async def destination_statuses(self) -> list[DestinationStatus]:
        found: list[DestinationStatus] = await self._read(
            lambda c: destinations.statuses(c, DestinationStatus)
        )
        return found

    async def delivery_counts(self) -> dict[str, dict[DeliveryState, int]]:
        return await self._read(destinations.delivery_counts)

    async def was_delivered(self, destination: str, dedupe_key: str) -> bool:
        return await self._read(lambda c: read.was_delivered(c, destination, dedupe_key))

    @property
    def commit_stats(self) -> tuple[int, int]:
        """(intake batches committed, intakes committed): their ratio is the group size."""
        return self._writer.batches, self._writer.operations


__all__ = ["PostgresStore"]
