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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Literal, TypeVar

from engine.errors import StoreError
from engine.message import DeliveryState, Envelope, MessageState
from engine.store import _sqlite_destinations as destinations
from engine.store import _sqlite_ops as ops
from engine.store import _sqlite_overview as overview
from engine.store import _sqlite_payloads as payloads
from engine.store import _sqlite_replay as replay
from engine.store import _sqlite_schema as schema
from engine.store import _sqlite_search as search
from engine.store._files import EngineLock, private_directory, private_files
from engine.store._semantics import resumed_reason
from engine.store._sqlite_console_store import SqliteConsole
from engine.store._sqlite_writer import GroupCommitWriter
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


class SqliteStore(SqliteConsole, Store):
    """A :class:`Store` in one SQLite file.

    Args:
        path: database file; parent directories are created.
        synchronous: ``full`` (fsync every commit, default) or ``normal`` (WAL fsync at
            checkpoints only: survives a process crash, not a power loss).
        readers: size of the read connection pool.
        cipher: seals payloads at rest (default: stored in clear).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["full", "normal"] = "full",
        readers: int = 2,
        cipher: PayloadCipher = CLEAR,
    ) -> None:
        self.path = Path(path)
        self.cipher = cipher
        self._synchronous = synchronous.upper()
        self._writer = GroupCommitWriter(self._connect_writer, synchronous=self._synchronous)
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="store-read")
        self._inline: sqlite3.Connection | None = None
        self._inline_lock = threading.Lock()
        self._local = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._engine_lock = EngineLock(self.path)
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
        # only a new database takes it (before WAL mode writes the header): purged
        # payloads then give their pages back to the file system
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        try:
            schema.migrate(conn, self.path)
            destinations.ensure_schema(conn)
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

    async def lock_engine(self, node: str) -> None:
        self._engine_lock.acquire(node)

    async def open(self) -> None:
        private_directory(self.path.parent)
        # SQLite gives the -wal and -shm files the mode of the database file
        private_files(self.path)
        private_files(*(self.path.with_name(self.path.name + s) for s in ("-wal", "-shm")),
                      create=False)  # fmt: skip
        await asyncio.to_thread(self._writer.start)
        self._opened = True

    async def close(self) -> None:
        if not self._opened:
            self._engine_lock.release()
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
        self._engine_lock.release()

    # --- intake -----------------------------------------------------------------------
    async def accept(self, envelope: Envelope) -> None:
        await self._writer.run(ops.insert_op(envelope, MessageState.RECEIVED, "", self.cipher))

    async def reject(self, envelope: Envelope, reason: str) -> None:
        await self._writer.run(ops.insert_op(envelope, MessageState.REJECTED, reason, self.cipher))

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
                (*row[:6], MessageState.PROCESSING.value, reason, *row[8:]), self.cipher
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
                waits = conn.execute(
                    "SELECT 1 FROM deliveries WHERE destination=? AND order_key=?"
                    f" AND (message_id, seq) < (?, ?) AND {ops.holds_key()} LIMIT 1",
                    (d.destination, d.order_key, d.message_id, d.seq),
                ).fetchone()
                if waits is not None:  # only the head of its key may be claimed
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
        sent: bytes | None = None,
        response: bytes | None = None,
    ) -> DeliveryRecord:
        now = time.time()
        next_at = schema.ts(next_attempt_at) if next_attempt_at else None

        def op(conn: sqlite3.Connection) -> DeliveryRecord:
            d = ops.delivery(conn, delivery_id)
            number = d.attempts + 1
            ok = outcome is DeliveryState.SENT
            conn.execute(
                "UPDATE deliveries SET state=?, attempts=?, last_error=?, next_attempt_at=?,"
                " updated_at=?, detail=?, released=?, claim_owner=NULL, claim_until=NULL"
                " WHERE id=?",
                (
                    outcome.value,
                    number,
                    d.last_error if ok else detail,
                    next_at,
                    now,
                    detail if ok else d.detail,
                    int(release and outcome is DeliveryState.DEAD),
                    delivery_id,
                ),
            )
            conn.execute(
                "INSERT INTO attempts (delivery_id, number, at, outcome, detail)"
                " VALUES (?,?,?,?,?)",
                (delivery_id, number, now, outcome.value, detail),
            )
            if ok and dedupe_key:
                conn.execute(
                    "INSERT OR REPLACE INTO dedupe (destination, key, delivery_id, at)"
                    " VALUES (?,?,?,?)",
                    (d.destination, dedupe_key, delivery_id, now),
                )
            payloads.save_attempt_payload(conn, self.cipher, delivery_id, number, sent, response)
            overview.note_attempt(conn, d.destination, outcome, detail, now)
            return ops.delivery(conn, delivery_id)

        return await self._writer.run(op, durable=False)

    async def record_probe(
        self, delivery_id: str, detail: str, *, next_attempt_at: datetime
    ) -> DeliveryRecord:
        return await self._writer.run(
            lambda c: destinations.record_probe(c, delivery_id, detail, next_attempt_at),
            durable=False,
        )

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
        return await self._read(lambda c: replay.order_blocker(c, delivery, key_of, self.cipher))

    async def next_in_order(self, destination: str, order_key: str) -> DeliveryRecord | None:
        return await self._read(lambda c: replay.next_in_order(c, destination, order_key))

    async def runnable(self, now: datetime, limit: int = 1000) -> Unfinished:
        return await self._read(lambda c: replay.runnable(c, schema.ts(now), limit))

    # --- reading ----------------------------------------------------------------------
    async def get_message(self, message_id: str) -> StoredMessage:
        return self._read_now(
            lambda c: schema.message_from_row(ops.message_row(c, message_id), self.cipher)
        )

    async def history(self, message_id: str) -> list[Transition]:
        return await self._read(lambda c: ops.history(c, message_id))

    async def deliveries(self, message_id: str) -> list[DeliveryRecord]:
        return await self._read(lambda c: ops.deliveries_of(c, message_id))

    async def get_delivery(self, delivery_id: str) -> DeliveryRecord:
        return self._read_now(lambda c: ops.delivery(c, delivery_id))

    async def attempts(self, delivery_id: str) -> list[Attempt]:
        return await self._read(lambda c: ops.attempts(c, delivery_id))

    async def attempt_payloads(self, delivery_id: str) -> list[AttemptPayload]:
        return await self._read(lambda c: payloads.attempt_payloads(c, self.cipher, delivery_id))

    async def rotate_payloads(self, batch: int = 500) -> int:
        total = 0
        while done := await self._writer.run(
            lambda c: payloads.rotate_batch(c, self.cipher, batch)
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
        purged = await self._writer.run(
            lambda c: payloads.purge_batch(c, before, channel, exclude, limit), durable=False
        )
        if purged:
            await self._writer.run(payloads.vacuum)
        return purged

    async def list_messages(self, query: MessageQuery) -> list[StoredMessage]:
        columns = ", ".join("m." + c.strip() for c in schema.MESSAGE_COLUMNS.split(","))

        def q(c: sqlite3.Connection) -> list[StoredMessage]:
            rows = search.run(c, query, columns, newest_first=True)
            return [schema.message_from_row(r, self.cipher) for r in rows]

        return await self._read(q)

    async def message_ids(self, query: MessageQuery) -> list[str]:
        def q(c: sqlite3.Connection) -> list[str]:
            return [str(r[0]) for r in search.run(c, query, "m.id", newest_first=False)]

        return await self._read(q)

    async def count_by_state(self) -> dict[MessageState, int]:
        return await self._read(overview.count_by_state)

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

    # --- destinations -----------------------------------------------------------------
    async def save_destination_status(self, status: DestinationStatus) -> None:
        await self._writer.run(lambda c: destinations.save_status(c, status), durable=False)

    async def destination_statuses(self) -> list[DestinationStatus]:
        return await self._read(destinations.statuses)

    async def delivery_counts(self) -> dict[str, dict[DeliveryState, int]]:
        return await self._read(overview.delivery_counts)

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
