"""SQLite store: WAL journal, group commit, durable before :meth:`accept` returns.

Writes go through one :class:`GroupCommitWriter` thread; reads use a small pool of
read-only connections (WAL lets them run beside the writer). ``synchronous=FULL`` by
default, so an acknowledged message survives power loss, not only a process crash.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from engine.errors import NotFound, StoreError
from engine.message import DeliveryState, Envelope, MessageState, new_id
from engine.store import _sqlite_schema as schema
from engine.store._sqlite_writer import GroupCommitWriter
from engine.store.base import (
    Attempt,
    DeliveryRecord,
    MessageQuery,
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
        self._writer = GroupCommitWriter(self._connect_writer)
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="store-read")
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
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema {version}, newer than this engine")
        conn.executescript(schema.DDL)
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")
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
        with self._lock:
            for conn in self._reader_connections:
                conn.close()
            self._reader_connections.clear()

    # --- intake -----------------------------------------------------------------------
    async def accept(self, envelope: Envelope) -> None:
        await self._writer.run(_insert_op(envelope, MessageState.RECEIVED, ""))

    async def reject(self, envelope: Envelope, reason: str) -> None:
        await self._writer.run(_insert_op(envelope, MessageState.REJECTED, reason))

    # --- processing -------------------------------------------------------------------
    async def start_processing(self, message_id: str) -> StoredMessage | None:
        def op(conn: sqlite3.Connection) -> StoredMessage | None:
            row = _message_row(conn, message_id)
            current = MessageState(row[6])
            if current.finished:
                return None
            reason = "resumed after restart" if current is MessageState.PROCESSING else ""
            _transition(conn, message_id, current, MessageState.PROCESSING, reason)
            return schema.message_from_row(
                (*row[:6], MessageState.PROCESSING.value, reason, row[8])
            )

        return await self._writer.run(op)

    async def finish_routing(
        self, message_id: str, outcome: RoutingOutcome
    ) -> list[DeliveryRecord]:
        now = time.time()

        def op(conn: sqlite3.Connection) -> list[DeliveryRecord]:
            current = MessageState(_message_row(conn, message_id)[6])
            if current is not outcome.state:
                _transition(conn, message_id, current, outcome.state, outcome.reason)
            for destination, route in outcome.deliveries:
                conn.execute(
                    "INSERT OR IGNORE INTO deliveries (id, message_id, destination, route, state,"
                    " created_at, updated_at) VALUES (?,?,?,?,'pending',?,?)",
                    (new_id(), message_id, destination, route, now, now),
                )
            rows = conn.execute(
                f"SELECT {schema.DELIVERY_COLUMNS} FROM deliveries WHERE message_id = ?"
                " AND state IN ('pending', 'retrying') ORDER BY id",
                (message_id,),
            ).fetchall()
            return [schema.delivery_from_row(r) for r in rows]

        return await self._writer.run(op)

    async def fail_message(self, message_id: str, reason: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            current = MessageState(_message_row(conn, message_id)[6])
            _transition(conn, message_id, current, MessageState.ERROR, reason)

        await self._writer.run(op)

    async def record_attempt(
        self,
        delivery_id: str,
        outcome: DeliveryState,
        detail: str,
        *,
        next_attempt_at: datetime | None = None,
        dedupe_key: str | None = None,
    ) -> DeliveryRecord:
        now = time.time()
        next_at = schema.ts(next_attempt_at) if next_attempt_at else None

        def op(conn: sqlite3.Connection) -> DeliveryRecord:
            d = _delivery(conn, delivery_id)
            number = d.attempts + 1
            sent = outcome is DeliveryState.SENT
            conn.execute(
                "UPDATE deliveries SET state=?, attempts=?, last_error=?, next_attempt_at=?,"
                " updated_at=?, detail=? WHERE id=?",
                (
                    outcome.value,
                    number,
                    d.last_error if sent else detail,
                    next_at,
                    now,
                    detail if sent else d.detail,
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
            return _delivery(conn, delivery_id)

        return await self._writer.run(op)

    async def requeue_delivery(self, delivery_id: str, reason: str) -> DeliveryRecord:
        now = time.time()

        def op(conn: sqlite3.Connection) -> DeliveryRecord:
            d = _delivery(conn, delivery_id)
            conn.execute(
                "UPDATE deliveries SET state='pending', next_attempt_at=NULL, updated_at=?"
                " WHERE id=?",
                (now, delivery_id),
            )
            conn.execute(
                "INSERT INTO attempts (delivery_id, number, at, outcome, detail)"
                " VALUES (?,?,?,'pending',?)",
                (delivery_id, d.attempts, now, reason),
            )
            return _delivery(conn, delivery_id)

        return await self._writer.run(op)

    # --- reading ----------------------------------------------------------------------
    async def get_message(self, message_id: str) -> StoredMessage:
        return await self._read(lambda c: schema.message_from_row(_message_row(c, message_id)))

    async def history(self, message_id: str) -> list[Transition]:
        def q(c: sqlite3.Connection) -> list[Transition]:
            rows = c.execute(
                "SELECT at, from_state, to_state, reason FROM transitions WHERE message_id=?"
                " ORDER BY seq",
                (message_id,),
            ).fetchall()
            if not rows:
                _message_row(c, message_id)
            return [schema.transition_from_row(r) for r in rows]

        return await self._read(q)

    async def deliveries(self, message_id: str) -> list[DeliveryRecord]:
        def q(c: sqlite3.Connection) -> list[DeliveryRecord]:
            rows = c.execute(
                f"SELECT {schema.DELIVERY_COLUMNS} FROM deliveries WHERE message_id=? ORDER BY id",
                (message_id,),
            ).fetchall()
            return [schema.delivery_from_row(r) for r in rows]

        return await self._read(q)

    async def get_delivery(self, delivery_id: str) -> DeliveryRecord:
        return await self._read(lambda c: _delivery(c, delivery_id))

    async def attempts(self, delivery_id: str) -> list[Attempt]:
        def q(c: sqlite3.Connection) -> list[Attempt]:
            rows = c.execute(
                "SELECT delivery_id, number, at, outcome, detail FROM attempts"
                " WHERE delivery_id=? ORDER BY seq",
                (delivery_id,),
            ).fetchall()
            return [schema.attempt_from_row(r) for r in rows]

        return await self._read(q)

    async def list_messages(self, query: MessageQuery) -> list[StoredMessage]:
        where, args = _where(query)
        sql = (
            f"SELECT {', '.join('m.' + c.strip() for c in schema.MESSAGE_COLUMNS.split(','))}"
            f" FROM messages m {where} ORDER BY m.id DESC LIMIT ?"
        )

        def q(c: sqlite3.Connection) -> list[StoredMessage]:
            return [schema.message_from_row(r) for r in c.execute(sql, (*args, query.limit))]

        return await self._read(q)

    async def count_by_state(self) -> dict[MessageState, int]:
        def q(c: sqlite3.Connection) -> dict[MessageState, int]:
            rows = c.execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall()
            return {MessageState(s): int(n) for s, n in rows}

        return await self._read(q)

    async def unfinished(self) -> Unfinished:
        def q(c: sqlite3.Connection) -> Unfinished:
            ids = [
                r[0]
                for r in c.execute(
                    "SELECT id FROM messages WHERE state IN ('received', 'processing') ORDER BY id"
                )
            ]
            deliveries = [
                (r[0], schema.dt(r[1]) if r[1] is not None else None)
                for r in c.execute(
                    "SELECT id, next_attempt_at FROM deliveries"
                    " WHERE state IN ('pending', 'retrying') ORDER BY id"
                )
            ]
            return Unfinished(ids, deliveries)

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


def _insert_op(
    envelope: Envelope, state: MessageState, reason: str
) -> Callable[[sqlite3.Connection], None]:
    received = schema.ts(envelope.received_at)
    values = (
        envelope.id,
        envelope.channel,
        received,
        envelope.content_type,
        envelope.raw,
        json.dumps(dict(envelope.metadata), separators=(",", ":")),
        envelope.metadata.get("hl7.control_id"),
        state.value,
        reason,
        received,
    )

    def op(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO messages (id, channel, received_at, content_type, raw, metadata,"
            " control_id, state, reason, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            values,
        )
        conn.execute(
            "INSERT INTO transitions (message_id, at, from_state, to_state, reason)"
            " VALUES (?,?,NULL,?,?)",
            (envelope.id, received, state.value, reason),
        )

    return op


def _message_row(conn: sqlite3.Connection, message_id: str) -> tuple[Any, ...]:
    row = conn.execute(
        f"SELECT {schema.MESSAGE_COLUMNS} FROM messages WHERE id=?", (message_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no message {message_id}")
    return tuple(row)


def _delivery(conn: sqlite3.Connection, delivery_id: str) -> DeliveryRecord:
    row = conn.execute(
        f"SELECT {schema.DELIVERY_COLUMNS} FROM deliveries WHERE id=?", (delivery_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    return schema.delivery_from_row(row)


def _transition(
    conn: sqlite3.Connection,
    message_id: str,
    from_state: MessageState,
    to_state: MessageState,
    reason: str,
) -> None:
    now = time.time()
    conn.execute(
        "UPDATE messages SET state=?, reason=?, updated_at=? WHERE id=?",
        (to_state.value, reason, now, message_id),
    )
    conn.execute(
        "INSERT INTO transitions (message_id, at, from_state, to_state, reason) VALUES (?,?,?,?,?)",
        (message_id, now, from_state.value, to_state.value, reason),
    )


def _where(q: MessageQuery) -> tuple[str, list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    if q.channel:
        clauses.append("m.channel = ?")
        args.append(q.channel)
    if q.state:
        clauses.append("m.state = ?")
        args.append(q.state.value)
    if q.since:
        clauses.append("m.received_at >= ?")
        args.append(schema.ts(q.since))
    if q.until:
        clauses.append("m.received_at < ?")
        args.append(schema.ts(q.until))
    if q.control_id:
        clauses.append("m.control_id = ?")
        args.append(q.control_id)
    if q.destination or q.delivery_state:
        sub = ["d.message_id = m.id"]
        if q.destination:
            sub.append("d.destination = ?")
            args.append(q.destination)
        if q.delivery_state:
            sub.append("d.state = ?")
            args.append(q.delivery_state.value)
        clauses.append(f"EXISTS (SELECT 1 FROM deliveries d WHERE {' AND '.join(sub)})")
    return ("WHERE " + " AND ".join(clauses) if clauses else "", args)


__all__ = ["SqliteStore"]
