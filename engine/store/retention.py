"""Retention: a background task that removes old payloads and keeps the metadata.

Every ``every`` seconds the purger asks the store to remove the payloads of messages
older than their channel's retention (:meth:`~engine.store.base.Store.purge_payloads`),
in batches, until nothing is left to remove. The store never touches undelivered
messages, so a long outage or a dead letter waiting for an operator keeps its payload.
One INFO line per round that removed something; failures are logged and tried again
next round.

Sent payloads (what attempts sent and received: mapped Bundles, XDS metadata, responses)
have their own budget, applied in the same round: older than ``sent_max_age`` or, oldest
first, beyond ``sent_max_bytes`` in total, they are removed
(:meth:`~engine.store.console.ConsoleStore.purge_attempt_payloads`); the attempts stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine.errors import StoreError
from engine.message import utcnow
from engine.store.base import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Seconds payloads are kept: ``default`` for every channel (None: forever) and
    per channel in ``channels``; the purge runs every ``every`` seconds. Sent payloads
    are kept at most ``sent_max_age`` seconds and ``sent_max_bytes`` bytes (None: no
    limit)."""

    default: float | None = None
    channels: Mapping[str, float] = field(default_factory=dict)
    every: float = 3600.0
    sent_max_age: float | None = None
    sent_max_bytes: int | None = None

    @property
    def active(self) -> bool:
        return self.default is not None or bool(self.channels) or self.sent_budget

    @property
    def sent_budget(self) -> bool:
        return self.sent_max_age is not None or self.sent_max_bytes is not None


class RetentionPurger:
    """Runs :meth:`purge_once` every ``policy.every`` seconds. :meth:`start`, :meth:`stop`."""

    def __init__(self, store: Store, policy: RetentionPolicy, batch: int = 500) -> None:
        self.store = store
        self.policy = policy
        self.batch = batch
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self.policy.active:
            self._task = asyncio.create_task(self._run(), name="store-retention")

    async def purge_once(self) -> int:
        """Remove every payload past its retention now; return how many messages."""
        now = utcnow()
        total = 0
        for channel, keep in sorted(self.policy.channels.items()):
            total += await self._drain(now - timedelta(seconds=keep), channel, ())
        if self.policy.default is not None:
            before = now - timedelta(seconds=self.policy.default)
            total += await self._drain(before, None, tuple(self.policy.channels))
        if total:
            log.info("Payloads removed by retention.", extra={"messages": total})
        if self.policy.sent_budget:
            sent = await self.purge_sent(now)
            if sent:
                log.info("Sent payloads removed by their budget.", extra={"attempts": sent})
        return total

    async def purge_sent(self, now: datetime) -> int:
        """Apply the sent-payload budget; return how many attempts lost their payloads."""
        age = self.policy.sent_max_age
        before = now - timedelta(seconds=age) if age is not None else None
        total = 0
        while True:
            done = await self.store.purge_attempt_payloads(
                before=before, max_bytes=self.policy.sent_max_bytes, limit=self.batch
            )
            total += done
            if done < self.batch:
                return total

    async def _drain(self, before: datetime, channel: str | None, exclude: tuple[str, ...]) -> int:
        total = 0
        while True:
            done = await self.store.purge_payloads(
                before, channel=channel, exclude=exclude, limit=self.batch
            )
            total += done
            if done < self.batch:
                return total

    async def _run(self) -> None:
        while True:
            try:
                await self.purge_once()
            except StoreError as exc:
                log.warning(
                    "Retention purge failed; trying again later.", extra={"error": str(exc)}
                )
            except Exception:  # a bug must not end retention for good
                log.exception("Retention purge failed; trying again later.")
            await asyncio.sleep(self.policy.every)

    async def stop(self) -> None:
        """Stop purging. Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


__all__ = ["RetentionPolicy", "RetentionPurger"]
