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

Outages: each destination has a circuit breaker (:mod:`engine.circuit`). While it is open a
delivery is not attempted and spends nothing: it is parked in memory (the store still has
it pending or retrying, so a restart or the store poller finds it again) until a probe
succeeds and the circuit closes, which queues every parked delivery. The retry budget
(:class:`~engine.retry.RetryPolicy`) counts attempts and the age of the delivery since it
was created or replayed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from engine.alerts import AlertHook, raise_alert
from engine.circuit import DISABLED, CircuitBreaker, CircuitPolicy, CircuitState, Gate
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
from engine.latency import observe_delivery
from engine.message import HL7V2, DeliveryState, Envelope, utcnow
from engine.patient_keys import patient_keys
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
    ``circuits`` maps a destination name to its circuit-breaker policy (absent:
    ``default_circuit``, disabled unless given; :mod:`engine.circuit`).
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
        circuits: Mapping[str, CircuitPolicy] | None = None,
        default_circuit: CircuitPolicy = DISABLED,
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
        self.circuits = dict(circuits or {})
        self.default_circuit = default_circuit
        self._breakers: dict[str, CircuitBreaker] = {}
        self._parked: dict[str, set[str]] = {}  # destination -> deliveries waiting for its circuit
        self.alert_hooks: list[AlertHook] = []  # destination.paused / destination.resumed
        self.circuit_sync = 5.0
        """Seconds between two reads of the circuit states other processes recorded."""
        self._circuits_read_at = time.monotonic()
        self.patient_secret: bytes | None = None
        """Key of the patient index; None: messages are not indexed."""
        self.paused: frozenset[str] = frozenset()
        """Destinations an operator paused (:mod:`engine.controls`): their deliveries wait."""
        self._on_hold: dict[str, set[str]] = {}  # paused destination -> waiting deliveries
        self._held_ids: set[str] = set()

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
        if self.patient_secret:
            keys = patient_keys(envelope, self.patient_secret)
            if keys:
                await self.store.add_patient_keys(message_id, keys)
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

    async def set_paused(self, names: frozenset[str]) -> None:
        """Pause these destinations (their deliveries wait, spending nothing) and resume
        the others: what waited for a resumed destination is queued."""
        resumed = self.paused - names
        for name in sorted(names - self.paused):
            log.info("Destination paused by an operator.", extra={"destination": name})
        self.paused = frozenset(names)
        for name in sorted(resumed):
            waiting = self._on_hold.pop(name, set())
            self._held_ids -= waiting
            log.info("Destination resumed.", extra={"destination": name, "waiting": len(waiting)})
            for delivery_id in sorted(waiting):
                await self.queue.put(Task(TaskKind.DELIVER, delivery_id))

    async def deliver(self, delivery_id: str) -> None:
        if delivery_id in self._held_ids:  # paused: no store read while it waits
            return
        try:
            delivery = await self.store.get_delivery(delivery_id)
        except NotFound:
            log.warning("Task for an unknown delivery dropped.", extra={"delivery_id": delivery_id})
            return
        if delivery.state.finished:
            return
        if delivery.destination in self.paused:  # an operator's pause: no attempt spent
            self._on_hold.setdefault(delivery.destination, set()).add(delivery.id)
            self._held_ids.add(delivery.id)
            return
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > utcnow():
            await self.schedule(delivery)  # woke early (e.g. recovered): wait for its time
            return
        # one snapshot of the rules in force: a reload swaps these dicts, never mutates them
        destinations, transforms = self.destinations, self.transforms
        destination = destinations.get(delivery.destination)
        if destination is None:
            await self._dead(
                delivery, f"destination '{delivery.destination}' is not configured any more"
            )
            return
        if await self._blocked(delivery):
            return
        breaker = self.breaker(delivery.destination)
        await self._sync_circuits()
        gate = breaker.admit(time.time())
        if gate is Gate.WAIT:  # circuit open: no attempt spent; woken when it closes
            self._parked.setdefault(delivery.destination, set()).add(delivery.id)
            return
        try:
            if self.owner is not None:  # several processes: the claim decides who sends
                claimed = await self.store.claim_delivery(
                    delivery.id, owner=self.owner, lease=self.lease
                )
                if claimed is None or claimed.state.finished:
                    return
                delivery = claimed
                self._held.add(delivery.id)  # renewed by handle() until the attempt ends
            await self._attempt(delivery, destination, transforms.get(delivery.route), gate)
        finally:
            if gate is Gate.PROBE and breaker.probing:  # ended without reaching the peer
                breaker.abandoned()
                await self._wake_one_parked(delivery.destination)

    async def _wake_one_parked(self, name: str) -> None:
        """Let another waiting delivery be the probe (the one admitted did not send)."""
        parked = self._parked.get(name)
        if parked:
            await self.queue.put(Task(TaskKind.DELIVER, min(parked)))

    async def _attempt(
        self,
        delivery: DeliveryRecord,
        destination: Destination[Any],
        transform: Transform | None,
        gate: Gate,
    ) -> None:
        message = await self.store.get_message(delivery.message_id)
        envelope = message.envelope
        key = dedupe_key(envelope)
        attempt = delivery.attempts + 1
        context = DeliveryContext(delivery.id, envelope.id, delivery.destination, attempt, key)
        try:
            payload = (transform or raw_payload)(envelope)
        except MappingError as exc:
            await self._dead(delivery, f"mapping: {exc}")
            log.warning(
                "Mapping failed; dead letter.",
                extra={"message_id": envelope.id, "delivery_id": delivery.id, "error": str(exc)},
            )
            return
        # what went out is kept with the attempt, unless it is the stored message itself
        sent = None if payload.body == envelope.raw else payload.body
        extra = {
            "message_id": envelope.id,
            "delivery_id": delivery.id,
            "destination": delivery.destination,
            "attempt": attempt,
        }
        try:
            detail = await destination.send(payload, context)
        except PermanentDeliveryError as exc:
            await self._peer_answered(delivery.destination)
            await self._dead(delivery, f"refused: {exc}", sent=sent, response=exc.response)
            log.warning("Delivery refused; dead letter.", extra={**extra, "error": str(exc)})
        except RetryableDeliveryError as exc:
            await self._failed(
                delivery,
                attempt,
                str(exc),
                exc.retry_after,
                extra,
                gate,
                sent=sent,
                response=exc.response,
            )
        except Exception as exc:  # a destination bug must not lose the message: retry
            log.exception("Destination raised an unexpected error.", extra=extra)
            await self._failed(
                delivery,
                attempt,
                f"internal error: {type(exc).__name__}",
                None,
                extra,
                gate,
                sent=sent,
            )
        else:
            await self.store.record_attempt(
                delivery.id, DeliveryState.SENT, detail, dedupe_key=key, sent=sent
            )
            count("deliveries.sent")
            observe_delivery(
                delivery.destination, (utcnow() - envelope.received_at).total_seconds()
            )
            log.debug("Delivered.", extra={**extra, "detail": detail})
            await self._peer_answered(delivery.destination)
            await self._wake_next(delivery)

    # --- circuit breakers -----------------------------------------------------------
    def breaker(self, destination: str) -> CircuitBreaker:
        """The circuit breaker of a destination (created closed on first use)."""
        found = self._breakers.get(destination)
        if found is None:
            policy = self.circuits.get(destination, self.default_circuit)
            found = self._breakers[destination] = CircuitBreaker(destination, policy)
        return found

    async def set_circuit_policies(
        self, policies: Mapping[str, CircuitPolicy], default: CircuitPolicy
    ) -> None:
        """Apply new circuit settings (a reload); breakers keep their state, and a breaker
        that is now disabled lets its waiting deliveries go."""
        self.circuits, self.default_circuit = dict(policies), default
        for name, breaker in self._breakers.items():
            breaker.policy = self.circuits.get(name, default)
            if not breaker.policy.enabled and breaker.state is not CircuitState.CLOSED:
                await self._peer_answered(name)

    async def restore_circuits(self) -> None:
        """Take up the circuit states recorded in the store (call before resuming work)."""
        for status in await self.store.destination_statuses():
            self.breaker(status.destination).restore(status)

    async def _sync_circuits(self) -> None:
        """Take up what other processes recorded (every ``circuit_sync`` seconds at most)."""
        now = time.monotonic()
        enabled = any(b.policy.enabled for b in self._breakers.values())
        if not enabled or now - self._circuits_read_at < self.circuit_sync:
            return
        self._circuits_read_at = now
        try:
            statuses = await self.store.destination_statuses()
        except StoreError:
            return  # next time; the breakers keep working on what this process sees
        for status in statuses:
            breaker = self._breakers.get(status.destination)
            change = breaker.adopt(status) if breaker is not None else None
            if change is CircuitState.CLOSED:
                await self._resume(status.destination, "another process")
            elif change is CircuitState.OPEN:
                log.info(
                    "Circuit opened by another process; deliveries here wait too.",
                    extra={"destination": status.destination},
                )

    async def _save_circuit(self, breaker: CircuitBreaker) -> None:
        try:
            await self.store.save_destination_status(breaker.status())
            breaker.saved_at = time.time()
        except StoreError as exc:  # the breaker works in memory; the record is for others
            log.warning(
                "Circuit state could not be recorded.",
                extra={"destination": breaker.destination, "error": str(exc)},
            )

    async def _peer_answered(self, name: str) -> None:
        breaker = self.breaker(name)
        if breaker.succeeded():
            await self._save_circuit(breaker)
            await self._resume(name, "")

    async def _resume(self, name: str, by: str) -> None:
        """The circuit closed (here, or ``by`` another process): the waiting deliveries go."""
        waiting = self._parked.pop(name, set())
        log.info(
            "Destination answers again; circuit closed.",
            extra={"destination": name, "waiting": len(waiting), **({"by": by} if by else {})},
        )
        if not by:  # the process that saw it raises the alert, once
            details = {"destination": name, "waiting": len(waiting)}
            raise_alert(self.alert_hooks, "destination.resumed", details)
        for delivery_id in sorted(waiting):
            await self.queue.put(Task(TaskKind.DELIVER, delivery_id))

    async def _failed(
        self,
        delivery: DeliveryRecord,
        attempt: int,
        error: str,
        retry_after: float | None,
        extra: dict[str, Any],
        gate: Gate,
        *,
        sent: bytes | None = None,
        response: bytes | None = None,
    ) -> None:
        """A transient failure: count it on the breaker, then retry (or, for a probe,
        wait for the next probe without spending the delivery's budget)."""
        breaker = self.breaker(delivery.destination)
        opened = breaker.failed(time.time(), error)
        if opened:
            await self._save_circuit(breaker)
            if gate is Gate.PROBE:
                log.info(
                    "Circuit probe failed; the destination stays paused.",
                    extra={
                        **extra,
                        "error": error,
                        "next_probe_at": breaker.status().next_probe_at,
                    },
                )
            else:
                details = {
                    "destination": delivery.destination,
                    "failures": breaker.failures,
                    "error": error,
                    "next_probe_at": breaker.status().next_probe_at,
                }
                log.warning(
                    "Destination failing; circuit opened, deliveries wait without spending "
                    "attempts.",
                    extra=details,
                )
                raise_alert(self.alert_hooks, "destination.paused", details)
        probe_at = breaker.status().next_probe_at
        if gate is Gate.PROBE and probe_at is not None:
            updated = await self.store.record_probe(
                delivery.id, f"circuit probe failed: {error}", next_attempt_at=probe_at
            )
            await self.schedule(updated)
            return
        await self._retry(
            delivery, attempt, error, retry_after, extra, probe_at, sent=sent, response=response
        )

    async def _dead(
        self,
        delivery: DeliveryRecord,
        reason: str,
        *,
        sent: bytes | None = None,
        response: bytes | None = None,
    ) -> None:
        """Dead-letter the delivery; with ``on_dead: continue`` its key is released.
        ``sent``/``response`` (what went out, the peer's answer) are kept with the attempt."""
        rule = self.orderings.get(delivery.destination)
        release = rule is None or rule.on_dead == "continue"
        await self.store.record_attempt(
            delivery.id, DeliveryState.DEAD, reason, release=release, sent=sent, response=response
        )
        if release:
            await self._wake_next(delivery)
        elif delivery.order_key is not None:
            log.warning(
                "Dead letter holds its ordering key; later messages of the key wait.",
                extra={"delivery_id": delivery.id, "message_id": delivery.message_id},
            )

    async def _budget_age(self, delivery: DeliveryRecord) -> float:
        """Seconds since the delivery was created, or since its last operator replay."""
        start = delivery.created_at
        if delivery.attempts_at_replay:
            for past in reversed(await self.store.attempts(delivery.id)):
                if past.outcome is DeliveryState.PENDING:  # the replay's note
                    start = past.at
                    break
        return (utcnow() - start).total_seconds()

    async def _retry(
        self,
        delivery: DeliveryRecord,
        attempt: int,
        error: str,
        retry_after: float | None,
        extra: dict[str, Any],
        not_before: datetime | None = None,
        *,
        sent: bytes | None = None,
        response: bytes | None = None,
    ) -> None:
        policy = self.policies.get(delivery.destination, self.default_policy)
        budget_used = attempt - delivery.attempts_at_replay
        age = await self._budget_age(delivery) if policy.max_age is not None else 0.0
        if policy.exhausted(budget_used, age):
            await self._dead(
                delivery, f"{policy.spent(budget_used, age)}: {error}", sent=sent, response=response
            )
            log.warning("Delivery abandoned; dead letter.", extra={**extra, "error": error})
            return
        delay = policy.delay(budget_used, retry_after)
        next_at = utcnow() + timedelta(seconds=delay)
        if not_before is not None and not_before > next_at:  # circuit open: after the probe
            next_at = not_before
        updated = await self.store.record_attempt(
            delivery.id,
            DeliveryState.RETRYING,
            error,
            next_attempt_at=next_at,
            sent=sent,
            response=response,
        )
        log.info("Delivery failed; will retry.", extra={**extra, "error": error, "delay_s": delay})
        await self.schedule(updated)


__all__ = ["Pipeline", "Transform", "dedupe_key", "deferred_facts", "raw_payload"]
