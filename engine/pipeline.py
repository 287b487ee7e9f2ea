"""What happens to a message after intake: process (route) and deliver, task by task.

Every handler is idempotent, because a task may run twice (after a crash, or a queue that
redelivers): :meth:`Pipeline.process` skips finished messages and the store ignores
deliveries that already exist; :meth:`Pipeline.deliver` skips finished deliveries, and a
destination must absorb a repeated send (see ``Destination.send``). One engine never runs
the same task twice at the same time: a task queued again while it runs is run once more
after it ends.

Ordering: a destination with an :class:`~engine.queue.ordering.OrderingRule` gets the
message's key digest on its delivery at routing time. A delivery is attempted only when no
earlier delivery (by message id) of the same destination and key holds the key (pending,
retrying, or dead and not released) and no earlier message with the same key is still
unrouted. When a delivery stops holding its key, the next one of the key is queued.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from engine.components import DeliveryContext, Destination, Payload
from engine.counters import count
from engine.errors import (
    MappingError,
    NotFound,
    PasserelleError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    StoreError,
)
from engine.intake.hl7v2 import review_after_ack
from engine.message import HL7V2, DeliveryState, Envelope, utcnow
from engine.queue.base import Task, TaskKind, WorkQueue
from engine.queue.ordering import OrderingRule
from engine.retry import RetryPolicy
from engine.router import Router
from engine.store.base import DeliveryRecord, RoutingOutcome, Store

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def deferred_facts(envelope: Envelope) -> dict[str, str]:
    """What intake deferred past the ACK (the PAM-FR review of an HL7v2 message in
    ``warn``/``off`` mode), computed now: metadata to route with and to record."""
    if envelope.content_type != HL7V2:
        return {}
    return review_after_ack(envelope.raw, envelope.metadata)


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
    ``orderings`` maps a destination name to its ordering rule (absent: unordered).

    ``owner`` (``<node>:<pid>``) is set when several processes run tasks on one store:
    a message is routed and a delivery attempted only under this owner's claim, which
    lasts ``lease`` seconds unless finished first (the store clears it with the outcome).
    A task whose work another live owner holds is dropped here: that owner finishes it,
    or its claim expires and the store poller queues it again. Without an owner (one
    process), claims are not taken.
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
        orderings: Mapping[str, OrderingRule] | None = None,
        *,
        owner: str | None = None,
        lease: float = 60.0,
    ) -> None:
        self.store = store
        self.queue = queue
        self.router = router
        self.destinations = destinations
        self.policies = policies
        self.default_policy = default_policy or RetryPolicy()
        self.transforms = dict(transforms or {})
        self.orderings = dict(orderings or {})
        self._running: set[Task] = set()
        self._again: set[Task] = set()
        self._after_routing: dict[str, set[str]] = {}  # unrouted message -> waiting deliveries
        self.owner = owner
        self.lease = lease
        self._held: set[str] = set()  # deliveries claimed here, attempt running

    async def handle(self, task: Task) -> None:
        """Run one task. Never raises except on cancellation or store failure.

        A task that is already running here is not run beside itself: it is queued again
        when the running one ends (its outcome may have changed what the task has to do).
        """
        if task in self._running:
            self._again.add(task)
            return
        self._running.add(task)
        renewer = None
        if self.owner is not None and task.kind is TaskKind.DELIVER:
            renewer = asyncio.create_task(self._keep_claim(task.id), name=f"lease-{task.id}")
        try:
            if task.kind is TaskKind.PROCESS:
                await self.process(task.id)
            else:
                await self.deliver(task.id)
        finally:
            if renewer is not None:
                renewer.cancel()
                await asyncio.gather(renewer, return_exceptions=True)
                self._held.discard(task.id)
            self._running.discard(task)
            if task in self._again:
                self._again.discard(task)
                await self.queue.put(task)

    async def _keep_claim(self, delivery_id: str) -> None:
        """Renew this owner's claim every third of the lease while the attempt runs (a
        slow destination must not let another process take the delivery over)."""
        while True:
            await asyncio.sleep(self.lease / 3)
            if delivery_id in self._held and self.owner is not None:
                try:
                    await self.store.claim_delivery(delivery_id, owner=self.owner, lease=self.lease)
                except StoreError as exc:
                    log.warning(
                        "Claim could not be renewed.",
                        extra={"delivery_id": delivery_id, "error": str(exc)},
                    )

    async def process(self, message_id: str) -> None:
        try:
            stored = await self.store.start_processing(
                message_id, owner=self.owner, lease=self.lease
            )
        except NotFound:
            log.warning("Task for an unknown message dropped.", extra={"message_id": message_id})
            return
        if stored is None:
            return
        envelope = stored.envelope
        try:
            facts = deferred_facts(envelope)
            if facts:
                envelope = dataclasses.replace(envelope, metadata={**envelope.metadata, **facts})
            outcome = self._with_order_keys(envelope, self.router.route(envelope))
        except PasserelleError as exc:
            await self.store.fail_message(message_id, f"routing failed: {exc}")
            log.warning("Routing failed.", extra={"message_id": message_id, "error": str(exc)})
            count("messages.error")
            await self._wake_waiters(message_id)
            return
        if facts:
            outcome = dataclasses.replace(outcome, metadata=facts)
        pending = await self.store.finish_routing(message_id, outcome)
        count(f"messages.{outcome.state.value}")
        log.debug(
            "Message %s.",
            outcome.state.value,
            extra={
                "message_id": message_id,
                "control_id": envelope.metadata.get("hl7.control_id", ""),
                "destinations": [d for d, _ in outcome.deliveries],
            },
        )
        for delivery in pending:
            await self.schedule(delivery)
        await self._wake_waiters(message_id)

    def _with_order_keys(self, envelope: Envelope, outcome: RoutingOutcome) -> RoutingOutcome:
        keys: dict[str, str] = {}
        for destination, _ in outcome.deliveries:
            rule = self.orderings.get(destination)
            key = rule.key_of(envelope) if rule is not None else None
            if key is not None:
                keys[destination] = key
        return dataclasses.replace(outcome, order_keys=keys) if keys else outcome

    async def _wake_waiters(self, message_id: str) -> None:
        """Queue the deliveries that waited for this message to be routed."""
        for delivery_id in sorted(self._after_routing.pop(message_id, ())):
            await self.queue.put(Task(TaskKind.DELIVER, delivery_id))

    async def _wake_next(self, delivery: DeliveryRecord) -> None:
        """Queue the delivery now at the head of this one's ordering key, if any."""
        if delivery.order_key is None:
            return
        head = await self.store.next_in_order(delivery.destination, delivery.order_key)
        if head is not None:
            await self.schedule(head)

    async def _blocked(self, delivery: DeliveryRecord) -> bool:
        """True when an earlier delivery or message of the same key must go first."""
        if delivery.order_key is None:
            return False
        rule = self.orderings.get(delivery.destination)
        blocker = await self.store.order_blocker(delivery, rule.key_of if rule else None)
        if blocker is None:
            return False
        if blocker.delivery_id is None:
            self._after_routing.setdefault(blocker.message_id, set()).add(delivery.id)
        log.debug(
            "Delivery waits for an earlier message of its key.",
            extra={
                "delivery_id": delivery.id,
                "message_id": delivery.message_id,
                "waits_for": blocker.message_id,
                "waits_state": blocker.state,
            },
        )
        return True

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
            await self._dead(
                delivery, f"destination '{delivery.destination}' is not configured any more"
            )
            return
        if await self._blocked(delivery):
            return
        if self.owner is not None:  # several processes: the claim decides who sends
            claimed = await self.store.claim_delivery(
                delivery.id, owner=self.owner, lease=self.lease
            )
            if claimed is None or claimed.state.finished:
                return
            delivery = claimed
            self._held.add(delivery.id)  # renewed by handle() until the attempt ends
        message = await self.store.get_message(delivery.message_id)
        envelope = message.envelope
        key = dedupe_key(envelope)
        attempt = delivery.attempts + 1
        context = DeliveryContext(delivery.id, envelope.id, delivery.destination, attempt, key)
        try:
            payload = self.transforms.get(delivery.route, raw_payload)(envelope)
        except MappingError as exc:
            await self._dead(delivery, f"mapping: {exc}")
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
            await self._dead(delivery, f"refused: {exc}")
            log.warning("Delivery refused; dead letter.", extra={**extra, "error": str(exc)})
        except RetryableDeliveryError as exc:
            await self._retry(delivery, attempt, str(exc), exc.retry_after, extra)
        except Exception as exc:  # a destination bug must not lose the message: retry
            log.exception("Destination raised an unexpected error.", extra=extra)
            await self._retry(delivery, attempt, f"internal error: {exc!r}", None, extra)
        else:
            await self.store.record_attempt(delivery_id, DeliveryState.SENT, detail, dedupe_key=key)
            count("deliveries.sent")
            log.debug("Delivered.", extra={**extra, "detail": detail})
            await self._wake_next(delivery)

    async def _dead(self, delivery: DeliveryRecord, reason: str) -> None:
        """Dead-letter the delivery; with ``on_dead: continue`` its key is released."""
        rule = self.orderings.get(delivery.destination)
        release = rule is None or rule.on_dead == "continue"
        await self.store.record_attempt(delivery.id, DeliveryState.DEAD, reason, release=release)
        if release:
            await self._wake_next(delivery)
        elif delivery.order_key is not None:
            log.warning(
                "Dead letter holds its ordering key; later messages of the key wait.",
                extra={"delivery_id": delivery.id, "message_id": delivery.message_id},
            )

    async def _retry(
        self,
        delivery: DeliveryRecord,
        attempt: int,
        error: str,
        retry_after: float | None,
        extra: dict[str, Any],
    ) -> None:
        policy = self.policies.get(delivery.destination, self.default_policy)
        budget_used = attempt - delivery.attempts_at_replay
        if policy.exhausted(budget_used):
            await self._dead(delivery, f"gave up after {budget_used} attempts: {error}")
            log.warning("Delivery abandoned; dead letter.", extra={**extra, "error": error})
            return
        delay = policy.delay(budget_used, retry_after)
        next_at = utcnow() + timedelta(seconds=delay)
        updated = await self.store.record_attempt(
            delivery.id, DeliveryState.RETRYING, error, next_attempt_at=next_at
        )
        log.info("Delivery failed; will retry.", extra={**extra, "error": error, "delay_s": delay})
        await self.schedule(updated)


__all__ = ["Pipeline", "Transform", "dedupe_key", "deferred_facts", "raw_payload"]
