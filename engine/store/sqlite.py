"""SQLite store: WAL journal, group commit, durable before :meth:`accept` returns.

Writes go through one :class:`GroupCommitWriter` thread; reads use a small pool of
read-only connections (WAL lets them run beside the writer). ``synchronous=FULL`` by
default, so an acknowledged message survives power loss, not only a process crash.
Pipeline bookkeeping (routing results, delivery attempts) is written without an fsync of
its own; the next durable commit persists it (see ``_sqlite_writer``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Literal, TypeVar

from engine.errors import StoreError
from engine.message import DeliveryState, Envelope, MessageState
from engine.store import _sqlite_ops as ops
from engine.store import _sqlite_replay as replay
from engine.store import _sqlite_schema as schema
from engine.store._semantics import resumed_reason
from engine.store._sqlite_writer import GroupCommitWriter
from engine.store.base import (
    DEFAULT_LEASE,
    Attempt,
    Blocker,
    DeliveryRecord,
    KeyFunction,
    MessageQuery,
    ReplayResult,
    RoutingOutcome,
    Store,
    StoredMessage,
    Transition,
    Unfinished,
)

T = TypeVar("T")


class SqliteStore(Store):
    """A :class:`Store` in one SQLite file.

    Args:
        path: database file; parent directories are created.
        synchronous: ``full`` (fsync every commit, default) or ``normal`` (WAL fsync at
            checkpoints only: survives a process crash, not a power loss).
        readers: size of the read connection pool.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["full", "normal"] = "full",
        readers: int = 2,
    ) -> None:
        self.path = Path(path)
        self._synchronous = synchronous.upper()
        self._writer = GroupCommitWriter(self._connect_writer, synchronous=self._synchronous)
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="store-read")
        self._inline: sqlite3.Connection | None = None
        self._inline_lock = threading.Lock()
        self._local = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._opened = False

    # --- connections ------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA foreign_keys = ON")
            return conn
        except sqlite3.Error as exc:
            raise StoreError(f"opening {self.path}: {exc}") from exc

    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        try:
            schema.migrate(conn, self.path)
        except BaseException:
            conn.close()
            raise
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._lock:
                self._reader_connections.append(conn)
        return conn

    def _read_now(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run a primary-key read on the caller's thread: in WAL mode a reader never waits
        for the writer, and such a lookup costs less than a hop to a reader thread."""
        with self._inline_lock:
            if self._inline is None:
                self._inline = self._connect()
                self._inline.execute("PRAGMA query_only = ON")
            try:
                return query(self._inline)
            except sqlite3.Error as exc:
                raise StoreError(f"store read: {exc}") from exc

    async def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            try:
                return query(self._reader())
            except sqlite3.Error as exc:
                raise StoreError(f"store read: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"creating the store directory {self.path.parent}: {exc}") from exc
        await asyncio.to_thread(self._writer.start)
        self._opened = True

    async def close(self) -> None:
        if not self._opened:
            return
        self._opened = False
        await asyncio.to_thread(self._writer.stop)
        self._readers.shutdown(wait=True)
        with self._inline_lock:
            if self._inline is not None:
                self._inline.close()
                self._inline = None
        with self._lock:
            for conn in self._reader_connections:
                conn.close()
            self._reader_connections.clear()

    # --- intake -----------------------------------------------------------------------
    async def accept(self, envelope: Envelope) -> None:
        await self._writer.run(ops.insert_op(envelope, MessageState.RECEIVED, ""))

    async def reject(self, envelope: Envelope, reason: str) -> None:
        await self._writer.run(ops.insert_op(envelope, MessageState.REJECTED, reason))

    # --- processing -------------------------------------------------------------------
    async def start_processing(
        self, message_id: str, *, owner: str | None = None, lease: float = DEFAULT_LEASE
    ) -> StoredMessage | None:
        def op(conn: sqlite3.Connection) -> StoredMessage | None:
            row = ops.message_row(conn, message_id)
            current = MessageState(row[6])
            if current.finished:
                return None
            now = time.time()
            claim_owner, claim_until = conn.execute(
                "SELECT claim_owner, claim_until FROM messages WHERE id=?", (message_id,)
            ).fetchone()
            if ops.claimed_by_other(owner, claim_owner, claim_until, now):
                return None
            reason = resumed_reason(current, claim_owner, owner)
            if current is not MessageState.PROCESSING or reason:
                ops.transition(conn, message_id, current, MessageState.PROCESSING, reason)
            if owner is not None:
                conn.execute(
                    "UPDATE messages SET claim_owner=?, claim_until=? WHERE id=?",
                    (owner, now + lease, message_id),
                )
            return schema.message_from_row(
                (*row[:6], MessageState.PROCESSING.value, reason, row[8])
            )

        return await self._writer.run(op, durable=False)

    async def finish_routing(
        self, message_id: str, outcome: RoutingOutcome
    ) -> list[DeliveryRecord]:
        return await self._writer.run(
            lambda c: replay.finish_routing(c, message_id, outcome), durable=False
        )

    async def fail_message(self, message_id: str, reason: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            current = MessageState(ops.message_row(conn, message_id)[6])
            ops.transition(conn, message_id, current, MessageState.ERROR, reason)
            conn.execute(
                "UPDATE messages SET replay_scope=NULL, claim_owner=NULL, claim_until=NULL"
                " WHERE id=?",
                (message_id,),
            )

        await self._writer.run(op, durable=False)

    async def claim_delivery(
        self, delivery_id: str, *, owner: str, lease: float = DEFAULT_LEASE
    ) -> DeliveryRecord | None:
        def op(conn: sqlite3.Connection) -> DeliveryRecord | None:
            d = ops.delivery(conn, delivery_id)
            now = time.time()
            if d.state.finished or ops.claimed_by_other(
                owner, d.claim_owner, schema.ts(d.claim_until) if d.claim_until else None, now
            ):
                return None
            if d.order_key is not None:
                busy = conn.execute(
                    "SELECT 1 FROM deliveries WHERE destination=? AND order_key=? AND id<>?"
                    " AND claim_until > ? AND claim_owner <> ? LIMIT 1",
                    (d.destination, d.order_key, d.id, now, owner),
                ).fetchone()
                if busy is not None:
                    return None
            conn.execute(
                "UPDATE deliveries SET claim_owner=?, claim_until=? WHERE id=?",
                (owner, now + lease, delivery_id),
            )
            return ops.delivery(conn, delivery_id)

        return await self._writer.run(op, durable=False)

    async def record_attempt(
        self,
        delivery_id: str,
        outcome: DeliveryState,
        detail: str,
        *,
        next_attempt_at: datetime | None = None,
        dedupe_key: str | None = None,
        release: bool = False,
    ) -> DeliveryRecord:
        now = time.time()
        next_at = schema.ts(next_attempt_at) if next_attempt_at else None

        def op(conn: sqlite3.Connection) -> DeliveryRecord:
            d = ops.delivery(conn, delivery_id)
            number = d.attempts + 1
            sent = outcome is DeliveryState.SENT
            conn.execute(
                "UPDATE deliveries SET state=?, attempts=?, last_error=?, next_attempt_at=?,"
                " updated_at=?, detail=?, released=?, claim_owner=NULL, claim_until=NULL"
                " WHERE id=?",
                (
                    outcome.value,
                    number,
                    d.last_error if sent else detail,
                    next_at,
                    now,
                    detail if sent else d.detail,
                    int(release and outcome is DeliveryState.DEAD),
                    delivery_id,
                ),
            )
            conn.execute(
                "INSERT INTO attempts (delivery_id, number, at, outcome, detail)"
                " VALUES (?,?,?,?,?)",
                (delivery_id, number, now, outcome.value, detail),
            )
            if sent and dedupe_key:
                conn.execute(
                    "INSERT OR REPLACE INTO dedupe (destination, key, delivery_id, at)"
                    " VALUES (?,?,?,?)",
                    (d.destination, dedupe_key, delivery_id, now),
                )
            return ops.delivery(conn, delivery_id)

        return await self._writer.run(op, durable=False)

    async def requeue_delivery(self, delivery_id: str, reason: str) -> DeliveryRecord:
        def op(conn: sqlite3.Connection) -> DeliveryRecord:
            d = ops.delivery(conn, delivery_id)
            ops.reset(conn, d, reason, time.time(), route=d.route, order_key=d.order_key)
            return ops.delivery(conn, delivery_id)

        return await self._writer.run(op)

    async def release_delivery(self, delivery_id: str, reason: str) -> DeliveryRecord:
        return await self._writer.run(lambda c: replay.release(c, delivery_id, reason))

    async def request_replay(
        self,
        message_id: str,
        *,
        destination: str | None = None,
        resend_sent: bool = False,
        reason: str = "replayed by operator",
    ) -> ReplayResult:
        return await self._writer.run(
            lambda c: replay.request_replay(c, message_id, destination, resend_sent, reason)
        )

    # --- ordering ---------------------------------------------------------------------
    async def order_blocker(
        self, delivery: DeliveryRecord, key_of: KeyFunction | None = None
    ) -> Blocker | None:
        return await self._read(lambda c: replay.order_blocker(c, delivery, key_of))

    async def next_in_order(self, destination: str, order_key: str) -> DeliveryRecord | None:
        return await self._read(lambda c: replay.next_in_order(c, destination, order_key))

    async def runnable(self, now: datetime, limit: int = 1000) -> Unfinished:
        return await self._read(lambda c: replay.runnable(c, schema.ts(now), limit))

    # --- reading ----------------------------------------------------------------------
    async def get_message(self, message_id: str) -> StoredMessage:
        return self._read_now(lambda c: schema.message_from_row(ops.message_row(c, message_id)))

    async def history(self, message_id: str) -> list[Transition]:
        return await self._read(lambda c: ops.history(c, message_id))

    async def deliveries(self, message_id: str) -> list[DeliveryRecord]:
        return await self._read(lambda c: ops.deliveries_of(c, message_id))

    async def get_delivery(self, delivery_id: str) -> DeliveryRecord:
        return self._read_now(lambda c: ops.delivery(c, delivery_id))

    async def attempts(self, delivery_id: str) -> list[Attempt]:
        return await self._read(lambda c: ops.attempts(c, delivery_id))

    async def list_messages(self, query: MessageQuery) -> list[StoredMessage]:
        where, args = ops.where(query)
        sql = (
            f"SELECT {', '.join('m.' + c.strip() for c in schema.MESSAGE_COLUMNS.split(','))}"
            f" FROM messages m {where} ORDER BY m.id DESC LIMIT ?"
        )

        def q(c: sqlite3.Connection) -> list[StoredMessage]:
            rows = c.execute(sql, (*args, ops.limit_value(query.limit)))
            return [schema.message_from_row(r) for r in rows]

        return await self._read(q)

    async def message_ids(self, query: MessageQuery) -> list[str]:
        where, args = ops.where(query)
        sql = f"SELECT m.id FROM messages m {where} ORDER BY m.id LIMIT ?"

        def q(c: sqlite3.Connection) -> list[str]:
            return [str(r[0]) for r in c.execute(sql, (*args, ops.limit_value(query.limit)))]

        return await self._read(q)

    async def count_by_state(self) -> dict[MessageState, int]:
        def q(c: sqlite3.Connection) -> dict[MessageState, int]:
            rows = c.execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall()
            return {MessageState(s): int(n) for s, n in rows}

        return await self._read(q)

    async def unfinished(self) -> Unfinished:
        return await self._read(ops.unfinished)

    async def intake_keys(self, channel: str, prefix: str) -> set[str]:
        def q(c: sqlite3.Connection) -> set[str]:
            rows = c.execute(
                "SELECT intake_key FROM messages WHERE channel=? AND intake_key >= ?"
                " AND intake_key < ?",
                (channel, prefix, prefix + "\U0010ffff"),
            )
            return {r[0] for r in rows}

        return await self._read(q)

    async def was_delivered(self, destination: str, dedupe_key: str) -> bool:
        def q(c: sqlite3.Connection) -> bool:
            row = c.execute(
                "SELECT 1 FROM dedupe WHERE destination=? AND key=?", (destination, dedupe_key)
            ).fetchone()
            return row is not None

        return await self._read(q)

    @property
    def commit_stats(self) -> tuple[int, int]:
        """(batches committed, operations committed): operations/batches = group size."""
        return self._writer.batches, self._writer.operations


__all__ = ["SqliteStore"]
