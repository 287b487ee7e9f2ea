"""The :class:`~engine.store.console.ConsoleStore` methods of the PostgreSQL store.

:class:`PgConsole` is mixed into :class:`~engine.store.postgres.PostgresStore`, which
provides the transaction helpers. Overview reads first fold the pending counter deltas
(skipped when another node is folding), then read counters plus what is left, in one
``REPEATABLE READ`` snapshot; every node heartbeat folds too, so ``console_deltas`` stays
small whether or not a console is open. Operator and audit writes commit durably.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from engine.store import _pg_accounts as acc
from engine.store import _pg_control as ctl
from engine.store import _pg_summaries as summaries
from engine.store._pg_ops import Conn
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


class PgConsole(ConsoleStore):
    """ConsoleStore on PostgreSQL; the host class supplies ``_tx`` and ``_read``."""

    async def _tx(
        self,
        operation: Callable[[Conn], Awaitable[T]],
        *,
        durable: bool = False,
        snapshot: bool = False,
    ) -> T:
        raise NotImplementedError

    async def _read(self, query: Callable[[Conn], Awaitable[T]]) -> T:
        raise NotImplementedError

    async def fold_counters(self) -> int:
        """Fold pending counter deltas; returns how many (0 if another node folds)."""
        return await self._tx(summaries.fold)

    async def _overview(self, query: Callable[[Conn], Awaitable[T]]) -> T:
        await self.fold_counters()
        return await self._tx(query, snapshot=True)

    # --- overview ---------------------------------------------------------------------
    async def channel_summaries(self) -> list[ChannelSummary]:
        return await self._overview(summaries.channel_summaries)

    async def destination_summaries(self) -> list[DestinationSummary]:
        return await self._overview(summaries.destination_summaries)

    async def activity(self, since: datetime, bucket_seconds: int) -> list[ActivityBucket]:
        if bucket_seconds <= 0:
            raise ValueError("bucket_seconds must be positive")
        return await self._overview(lambda c: summaries.activity(c, since, bucket_seconds))

    async def route_counts(self) -> dict[str, int]:
        return await self._overview(summaries.route_counts)

    # --- patient index ----------------------------------------------------------------
    async def add_patient_keys(self, message_id: str, keys: Sequence[bytes]) -> None:
        await self._tx(lambda c: ctl.add_patient_keys(c, message_id, keys))

    # --- accounts, tokens, sessions ---------------------------------------------------
    async def save_account(self, account: Account) -> None:
        await self._tx(lambda c: acc.save_account(c, account), durable=True)

    async def get_account(self, name: str) -> Account:
        return await self._read(lambda c: acc.get_account(c, name))

    async def accounts(self) -> list[Account]:
        return await self._read(acc.accounts)

    async def delete_account(self, name: str) -> None:
        await self._tx(lambda c: acc.delete_account(c, name), durable=True)

    async def save_token(self, token: ApiToken) -> None:
        await self._tx(lambda c: acc.save_token(c, token), durable=True)

    async def token_by_hash(self, token_hash: str) -> ApiToken | None:
        return await self._read(lambda c: acc.token_by_hash(c, token_hash))

    async def tokens(self, account: str | None = None) -> list[ApiToken]:
        return await self._read(lambda c: acc.tokens(c, account))

    async def save_session(self, session: Session) -> None:
        await self._tx(lambda c: acc.save_session(c, session), durable=True)

    async def get_session(self, id_hash: str) -> Session | None:
        return await self._read(lambda c: acc.get_session(c, id_hash))

    async def delete_session(self, id_hash: str) -> None:
        await self._tx(lambda c: acc.delete_session(c, id_hash), durable=True)

    async def purge_sessions(self, now: datetime) -> int:
        return await self._tx(lambda c: acc.purge_sessions(c, now))

    # --- audit ------------------------------------------------------------------------
    async def append_audit(self, entry: AuditEntry) -> int:
        return await self._tx(lambda c: acc.append_audit(c, entry), durable=True)

    async def audit_entries(self, query: AuditQuery) -> list[AuditEntry]:
        return await self._read(lambda c: acc.audit_entries(c, query))

    # --- operator controls ------------------------------------------------------------
    async def set_control(self, control: Control) -> None:
        await self._tx(lambda c: ctl.set_control(c, control), durable=True)

    async def controls(self) -> list[Control]:
        return await self._read(ctl.controls)

    # --- alerting ---------------------------------------------------------------------
    async def save_alert_state(self, state: AlertState) -> None:
        await self._tx(lambda c: ctl.save_alert_state(c, state), durable=True)

    async def alert_states(self) -> list[AlertState]:
        return await self._read(ctl.alert_states)

    async def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        return await self._tx(lambda c: ctl.acquire_lease(c, name, owner, seconds), durable=True)

    # --- engine nodes ---------------------------------------------------------------
    async def save_node_status(self, status: NodeStatus) -> None:
        """Record the heartbeat, and fold the counter deltas (the periodic fold)."""
        await self._tx(lambda c: ctl.save_node_status(c, status))
        await self.fold_counters()

    async def node_statuses(self) -> list[NodeStatus]:
        return await self._read(ctl.node_statuses)

    # --- sent payload budget ----------------------------------------------------------
    async def attempt_payload_usage(self) -> tuple[int, datetime | None]:
        return await self._tx(summaries.payload_usage, snapshot=True)

    async def purge_attempt_payloads(
        self, *, before: datetime | None, max_bytes: int | None, limit: int = 500
    ) -> int:
        async def purge(c: Conn) -> int:
            total, _ = await summaries.payload_usage(c)
            return await ctl.purge_attempt_payloads(c, before, max_bytes, total, limit)

        return await self._tx(purge, durable=True)


__all__ = ["PgConsole"]
