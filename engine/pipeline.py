"""What happens to a message after intake: process (route) and deliver, task by task.

Every handler is idempotent, because a task may run twice (after a crash, or a queue that
redelivers): :meth:`Pipeline.process` skips finished messages and the store ignores
deliveries that already exist; :meth:`Pipeline.deliver` skips finished deliveries, and a
destination must absorb a repeated send (see ``Destination.send``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from engine.components import DeliveryContext, Destination, Payload
from engine.errors import (
    MappingError,
    NotFound,
    PasserelleError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from engine.message import DeliveryState, Envelope, utcnow
from engine.queue.base import Task, TaskKind, WorkQueue
from engine.retry import RetryPolicy
from engine.router import Router
from engine.store.base import DeliveryRecord, Store

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def dedupe_key(envelope: Envelope) -> str:
    """The business key of a message: sending application + facility + MSH-10 for HL7v2,
    the message id otherwise. A sender's resend of the same message has the same key."""
    control_id = envelope.metadata.get("hl7.control_id")
    if not control_id:
        return envelope.id
    parts = (
        envelope.metadata.get("hl7.sending_application", ""),
        envelope.metadata.get("hl7.sending_facility", ""),
        control_id,
    )
    return "_".join(_UNSAFE.sub("-", p).strip("-") or "none" for p in parts)


Transform = Callable[[Envelope], Payload]
"""Turns a message into what a route's destinations receive. Raises MappingError."""


def raw_payload(envelope: Envelope) -> Payload:
    """The identity transform: the bytes received, unchanged."""
    return Payload(envelope.raw, envelope.content_type, envelope.metadata)


class Pipeline:
    """Runs process and deliver tasks against the store, the router and the destinations.

    ``transforms`` maps a route name to the transform its deliveries apply. It is applied
    at delivery time, so a replay after a mapping fix uses the current rules.
    """

    def __init__(
        self,
        store: Store,
        queue: WorkQueue,
        router: Router,
        destinations: Mapping[str, Destination[Any]],
        policies: Mapping[str, RetryPolicy],
        default_policy: RetryPolicy | None = None,
        transforms: Mapping[str, Transform] | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.router = router
        self.destinations = destinations
        self.policies = policies
        self.default_policy = default_policy or RetryPolicy()
        self.transforms = dict(transforms or {})

    async def handle(self, task: Task) -> None:
        """Run one task. Never raises except on cancellation or store failure."""
        if task.kind is TaskKind.PROCESS:
            await self.process(task.id)
        else:
            await self.deliver(task.id)

    async def process(self, message_id: str) -> None:
        try:
            stored = await self.store.start_processing(message_id)
        except NotFound:
            log.warning("Task for an unknown message dropped.", extra={"message_id": message_id})
            return
        if stored is None:
            return
        try:
            outcome = self.router.route(stored.envelope)
        except PasserelleError as exc:
            await self.store.fail_message(message_id, f"routing failed: {exc}")
            log.warning("Routing failed.", extra={"message_id": message_id, "error": str(exc)})
            return
        pending = await self.store.finish_routing(message_id, outcome)
        log.info(
            "Message %s.",
            outcome.state.value,
            extra={
                "message_id": message_id,
                "control_id": stored.envelope.metadata.get("hl7.control_id", ""),
                "destinations": [d for d, _ in outcome.deliveries],
            },
        )
        for delivery in pending:
            await self.schedule(delivery)

    async def schedule(self, delivery: DeliveryRecord) -> None:
        """Queue a delivery task, delayed until its next attempt time if that is later."""
        delay = 0.0
        if delivery.next_attempt_at is not None:
            delay = max(0.0, (delivery.next_attempt_at - utcnow()).total_seconds())
        await self.queue.put(Task(TaskKind.DELIVER, delivery.id), delay)

    async def deliver(self, delivery_id: str) -> None:
        try:
            delivery = await self.store.get_delivery(delivery_id)
        except NotFound:
            log.warning("Task for an unknown delivery dropped.", extra={"delivery_id": delivery_id})
            return
        if delivery.state.finished:
            return
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > utcnow():
            await self.schedule(delivery)  # woke early (e.g. recovered): wait for its time
            return
        destination = self.destinations.get(delivery.destination)
        if destination is None:
            await self.store.record_attempt(
                delivery_id,
                DeliveryState.DEAD,
                f"destination '{delivery.destination}' is not configured any more",
            )
            return
        message = await self.store.get_message(delivery.message_id)
        envelope = message.envelope
        key = dedupe_key(envelope)
        attempt = delivery.attempts + 1
        context = DeliveryContext(delivery.id, envelope.id, delivery.destination, attempt, key)
        try:
            payload = self.transforms.get(delivery.route, raw_payload)(envelope)
        except MappingError as exc:
            await self.store.record_attempt(delivery_id, DeliveryState.DEAD, f"mapping: {exc}")
            log.warning(
                "Mapping failed; dead letter.",
                extra={"message_id": envelope.id, "delivery_id": delivery.id, "error": str(exc)},
            )
            return
        extra = {
            "message_id": envelope.id,
            "delivery_id": delivery.id,
            "destination": delivery.destination,
            "attempt": attempt,
        }
        try:
            detail = await destination.send(payload, context)
        except PermanentDeliveryError as exc:
            await self.store.record_attempt(delivery_id, DeliveryState.DEAD, f"refused: {exc}")
            log.warning("Delivery refused; dead letter.", extra={**extra, "error": str(exc)})
        except RetryableDeliveryError as exc:
            await self._retry(delivery, attempt, str(exc), exc.retry_after, extra)
        except Exception as exc:  # a destination bug must not lose the message: retry
            log.exception("Destination raised an unexpected error.", extra=extra)
            await self._retry(delivery, attempt, f"internal error: {exc!r}", None, extra)
        else:
            await self.store.record_attempt(delivery_id, DeliveryState.SENT, detail, dedupe_key=key)
            log.info("Delivered.", extra={**extra, "detail": detail})

    async def _retry(
        self,
        delivery: DeliveryRecord,
        attempt: int,
        error: str,
        retry_after: float | None,
        extra: dict[str, Any],
    ) -> None:
        policy = self.policies.get(delivery.destination, self.default_policy)
        if policy.exhausted(attempt):
            reason = f"gave up after {attempt} attempts: {error}"
            await self.store.record_attempt(delivery.id, DeliveryState.DEAD, reason)
            log.warning("Delivery abandoned; dead letter.", extra={**extra, "error": error})
            return
        delay = policy.delay(attempt, retry_after)
        next_at = utcnow() + timedelta(seconds=delay)
        updated = await self.store.record_attempt(
            delivery.id, DeliveryState.RETRYING, error, next_attempt_at=next_at
        )
        log.info("Delivery failed; will retry.", extra={**extra, "error": error, "delay_s": delay})
        await self.schedule(updated)


__all__ = ["Pipeline", "Transform", "dedupe_key", "raw_payload"]
