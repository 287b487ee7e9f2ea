"""Finding what a mailbox channel already committed, so a mail handled again after a crash
creates no duplicate.

Each message the channel records carries ``mssante.dedupe_key`` = ``<Message-ID>#<document
uniqueId>`` (``#refused`` and ``#receipt`` for refusals and receipts). The engine's
:class:`~engine.components.Intake` has no lookup, so this reads the store the running
:class:`~engine.app.Engine` exposes as ``.store`` (read-only: ``message_ids`` over the
channel since shortly before the mail arrived, then ``get_message``). It is only asked
about mails that may have been half handled (the IMAP keyword ``$PasserelleIntake`` is
set before the first commit), so the scan is rare. An intake without a store (tests,
other engines) gets :attr:`StoreIndex.available` False and the caller logs it.

Proposed to the store owner: an indexed ``intake_key`` column and ``Store.find_intake_key``
(or an idempotent ``Intake.accept(..., intake_key=...)``), which would replace this scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.components import Intake
from engine.errors import NotFound
from engine.store.base import MessageQuery, Store

DEDUPE_KEY = "mssante.dedupe_key"
CLOCK_SLACK = timedelta(hours=12)
"""How far before the mail's IMAP arrival time to look (clock skew between servers)."""


def document_key(message_id: str, document: str) -> str:
    return f"{message_id}#{document}"


@dataclass(frozen=True, slots=True)
class DeliveryMatch:
    """What the store says about the delivery a receipt names."""

    found: bool
    message_id_in_detail: bool


class StoreIndex:
    """Read-only questions to the engine's store, when the intake exposes one."""

    def __init__(self, intake: Intake, channel: str) -> None:
        store = getattr(intake, "store", None)
        self._store: Store | None = store if isinstance(store, Store) else None
        self.channel = channel

    @property
    def available(self) -> bool:
        return self._store is not None

    async def keys_for(self, message_id: str, arrived: datetime) -> set[str]:
        """Dedupe keys already recorded for the mail ``message_id`` on this channel."""
        if self._store is None:
            return set()
        query = MessageQuery(channel=self.channel, since=arrived - CLOCK_SLACK, limit=None)
        prefix = f"{message_id}#"
        found: set[str] = set()
        for stored_id in await self._store.message_ids(query):
            try:
                stored = await self._store.get_message(stored_id)
            except NotFound:
                continue
            key = stored.envelope.metadata.get(DEDUPE_KEY, "")
            if key.startswith(prefix):
                found.add(key)
        return found

    async def delivery(self, delivery_id: str, message_id: str) -> DeliveryMatch | None:
        """Whether the delivery exists and its detail names ``message_id``; None when
        the store cannot be asked."""
        if self._store is None or not delivery_id:
            return None
        try:
            record = await self._store.get_delivery(delivery_id)
        except NotFound:
            return DeliveryMatch(False, False)
        return DeliveryMatch(True, bool(message_id) and message_id in record.detail)


__all__ = ["CLOCK_SLACK", "DEDUPE_KEY", "DeliveryMatch", "StoreIndex", "document_key"]
