"""Finding what a mailbox channel already committed, so a mail handled again after a crash
creates no duplicate.

Each message the channel records carries ``intake.key`` = ``<Message-ID>#<document
uniqueId>`` (``#refused`` and ``#receipt`` for refusals and receipts); the store indexes
that key per channel (:meth:`~engine.store.base.Store.intake_keys`). The engine's
:class:`~engine.components.Intake` exposes its store as ``.store``; an intake without one
(tests, other engines) gets :attr:`StoreIndex.available` False and the caller logs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.components import Intake
from engine.errors import NotFound
from engine.store.base import INTAKE_KEY, Store

DEDUPE_KEY = INTAKE_KEY


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

    async def keys_for(self, message_id: str) -> set[str]:
        """Dedupe keys already recorded for the mail ``message_id`` on this channel."""
        if self._store is None:
            return set()
        return await self._store.intake_keys(self.channel, f"{message_id}#")

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


__all__ = ["DEDUPE_KEY", "DeliveryMatch", "StoreIndex", "document_key"]
