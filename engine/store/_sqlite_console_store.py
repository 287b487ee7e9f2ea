"""The :class:`~engine.store.console.ConsoleStore` methods of the SQLite store.

:class:`SqliteConsole` is a mixin of :class:`~engine.store.sqlite.SqliteStore`: each
method hands one function of the ``_sqlite_*`` modules to the group-commit writer
(writes; operator acts and the audit are durable, heartbeats and alert bookkeeping are
not) or to the reader pool (reads).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from engine.store import _sqlite_accounts as accounts
from engine.store import _sqlite_console as console
from engine.store import _sqlite_overview as overview
from engine.store._sqlite_writer import GroupCommitWriter
from engine.store.console import (
    Account,
    ActivityBucket,
    AlertState,
    ApiToken,
    AuditEntry,
    AuditQuery,
    ChannelSummary,
    ConsoleStore,
    Control,
    DestinationSummary,
    NodeStatus,
    Session,
)

T = TypeVar("T")


class SqliteConsole(ConsoleStore):
    """Console methods over the store's writer and readers (see the module docstring)."""

    _writer: GroupCommitWriter

    def _read(self, query: Callable[[sqlite3.Connection], T]) -> Awaitable[T]:
        raise NotImplementedError  # provided by SqliteStore

    # --- overview ---------------------------------------------------------------------
    async def channel_summaries(self) -> list[ChannelSummary]:
        return await self._read(overview.channel_summaries)

    async def destination_summaries(self) -> list[DestinationSummary]:
        return await self._read(overview.destination_summaries)

    async def activity(self, since: datetime, bucket_seconds: int) -> list[ActivityBucket]:
        if bucket_seconds <= 0:
            raise ValueError("bucket_seconds must be positive")
        return await self._read(lambda c: overview.activity(c, since, bucket_seconds))

    async def route_counts(self) -> dict[str, int]:
        return await self._read(overview.route_counts)

    # --- patient index ----------------------------------------------------------------
    async def add_patient_keys(self, message_id: str, keys: Sequence[bytes]) -> None:
        rows = [(bytes(k), message_id) for k in dict.fromkeys(keys)]
        if not rows:
            return

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO patient_keys (key, message_id) VALUES (?,?)", rows
            )

        await self._writer.run(op, durable=False)

    # --- accounts, tokens, sessions ---------------------------------------------------
    async def save_account(self, account: Account) -> None:
        await self._writer.run(lambda c: accounts.save_account(c, account))

    async def get_account(self, name: str) -> Account:
        return await self._read(lambda c: accounts.get_account(c, name))

    async def accounts(self) -> list[Account]:
        return await self._read(accounts.accounts)

    async def delete_account(self, name: str) -> None:
        await self._writer.run(lambda c: accounts.delete_account(c, name))

    async def save_token(self, token: ApiToken) -> None:
        await self._writer.run(lambda c: accounts.save_token(c, token))

    async def token_by_hash(self, token_hash: str) -> ApiToken | None:
        return await self._read(lambda c: accounts.token_by_hash(c, token_hash))

    async def tokens(self, account: str | None = None) -> list[ApiToken]:
        return await self._read(lambda c: accounts.tokens(c, account))

    async def save_session(self, session: Session) -> None:
        await self._writer.run(lambda c: accounts.save_session(c, session))

    async def get_session(self, id_hash: str) -> Session | None:
        return await self._read(lambda c: accounts.get_session(c, id_hash))

    async def delete_session(self, id_hash: str) -> None:
        await self._writer.run(lambda c: accounts.delete_session(c, id_hash))

    async def purge_sessions(self, now: datetime) -> int:
        return await self._writer.run(lambda c: accounts.purge_sessions(c, now), durable=False)

    # --- audit ------------------------------------------------------------------------
    async def append_audit(self, entry: AuditEntry) -> int:
        return await self._writer.run(lambda c: console.append_audit(c, entry))

    async def audit_entries(self, query: AuditQuery) -> list[AuditEntry]:
        return await self._read(lambda c: console.audit_entries(c, query))

    # --- operator controls ------------------------------------------------------------
    async def set_control(self, control: Control) -> None:
        await self._writer.run(lambda c: console.set_control(c, control))

    async def controls(self) -> list[Control]:
        return await self._read(console.controls)

    # --- alerting ---------------------------------------------------------------------
    async def save_alert_state(self, state: AlertState) -> None:
        await self._writer.run(lambda c: console.save_alert_state(c, state))

    async def alert_states(self) -> list[AlertState]:
        return await self._read(console.alert_states)

    async def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        return await self._writer.run(
            lambda c: console.acquire_lease(c, name, owner, seconds), durable=False
        )

    # --- engine nodes -----------------------------------------------------------------
    async def save_node_status(self, status: NodeStatus) -> None:
        await self._writer.run(lambda c: console.save_node_status(c, status), durable=False)

    async def node_statuses(self) -> list[NodeStatus]:
        return await self._read(console.node_statuses)


__all__ = ["SqliteConsole"]
