"""The running engine: it owns the store, the queue, the workers, sources and destinations.

Start order: store → operator controls (:mod:`engine.controls`: paused destinations,
stopped channels) → destinations → recovery of unfinished work → workers → store poller
→ worker processes → sources (but those an operator stopped) → control poll and
heartbeats. Stop order is the reverse: sources stop accepting (in-flight
acknowledgements finish), the poller stops, worker processes and workers finish or release
their tasks, destinations and the store close. The poller (every ``poll_interval`` seconds)
picks up work that appears in the store from elsewhere, such as ``passerelle replay`` run
while the engine is up. The engine is the :class:`~engine.components.Intake` its sources
call.

Roles (one code path, embedded or distributed):

* ``all`` (default): intake and tasks in this process;
* ``intake``: sources, recovery and the poller; tasks run elsewhere, in the local worker
  processes this engine supervises (``children``) or on any process consuming a shared
  queue;
* ``worker``: tasks only (``passerelle worker``); no sources, no poller, no recovery.

A store that is full is a condition of every channel (:mod:`engine.conditions`). SIGHUP
reloads the configuration file (:mod:`engine.reload`). Counters replace per-message INFO
lines (see :mod:`engine.counters`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from engine.alerts import AlertHook, CommandAlert
from engine.circuit import DISABLED, CircuitPolicy
from engine.components import Destination, Source
from engine.conditions import StoreCondition
from engine.controls import LISTENING, STOPPED, OperatorControls
from engine.counters import ActivityLog, count
from engine.errors import StoreError
from engine.message import Envelope
from engine.pipeline import Pipeline, Transform
from engine.queue.base import Task, TaskKind, WorkQueue
from engine.queue.memory import InProcessQueue
from engine.queue.ordering import OrderingRule
from engine.queue.poller import StorePoller
from engine.retry import RetryPolicy
from engine.router import Router
from engine.store.base import Store
from engine.store.retention import RetentionPolicy, RetentionPurger
from engine.workers import WorkerPool

if TYPE_CHECKING:
    from engine.alerting import AlertEvaluator
    from engine.reload import Reloader
    from engine.supervisor import WorkerProcesses

log = logging.getLogger(__name__)


class Service(Protocol):
    """Something the engine runs beside its channels (the console)."""

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Idempotent; also called when :meth:`start` failed or never ran."""
        ...


class Role(StrEnum):
    ALL = "all"
    INTAKE = "intake"
    WORKER = "worker"

    @property
    def runs_tasks(self) -> bool:
        return self is not Role.INTAKE

    @property
    def watches_store(self) -> bool:
        """Recovers unfinished work at start and polls the store."""
        return self is not Role.WORKER


class Engine:
    """One engine process. Use :meth:`start`/:meth:`stop`, or :meth:`run` until a signal.

    With ``node`` (``passerelle run`` always gives one) the engine locks the store at
    start (:meth:`Store.lock_engine`): a second engine on it fails with StoreLocked.
    """

    def __init__(
        self,
        *,
        store: Store,
        router: Router,
        sources: Sequence[Source[Any]] = (),
        destinations: Mapping[str, Destination[Any]] | None = None,
        policies: Mapping[str, RetryPolicy] | None = None,
        default_policy: RetryPolicy | None = None,
        queue: WorkQueue | None = None,
        workers: int = 4,
        shutdown_grace: float = 10.0,
        transforms: Mapping[str, Transform] | None = None,
        orderings: Mapping[str, OrderingRule] | None = None,
        poll_interval: float = 1.0,
        circuits: Mapping[str, CircuitPolicy] | None = None,
        default_circuit: CircuitPolicy = DISABLED,
        activity_interval: float = 60.0,
        role: Role = Role.ALL,
        owner: str | None = None,
        lease: float = 60.0,
        requeue_after: float = 0.0,
        children: WorkerProcesses | None = None,
        node: str | None = None,
        retention: RetentionPolicy | None = None,
        patient_secret: bytes | None = None,
    ) -> None:
        self.store = store
        self.node = node
        self.queue = queue or InProcessQueue()
        self.sources = list(sources)
        self.destinations = dict(destinations or {})
        self.pipeline = Pipeline(
            store,
            self.queue,
            router,
            self.destinations,
            policies or {},
            default_policy,
            transforms,
            orderings,
            circuits,
            default_circuit,
            owner=owner,
            lease=lease,
        )
        self.pipeline.patient_secret = patient_secret
        self.role = role
        self.children = children
        self.workers = WorkerPool(self.queue, self.pipeline.handle, workers)
        self.alert_hooks: list[AlertHook] = self.pipeline.alert_hooks
        """Called on store-full and circuit events (:mod:`engine.alerts`)."""
        self.store_condition = StoreCondition(self.alert_hooks)
        """Store full: one log line, counters and alert hooks (:mod:`engine.conditions`)."""
        self.alerting: AlertEvaluator | None = None
        """Rule-based alerts (``alerts:``, :mod:`engine.alerting`), started with the sources."""
        self.reloader: Reloader | None = None
        """Set when the engine runs from a configuration file (``assembly.build_engine``)."""
        self.reload_hooks: list[Callable[[], None]] = []
        """Called after a reload was applied here (e.g. to restart worker processes)."""
        self.poller = StorePoller(store, self.queue, poll_interval, min_age=requeue_after)
        self.activity = ActivityLog(activity_interval)
        self.retention = RetentionPurger(store, retention or RetentionPolicy())
        self.shutdown_grace = shutdown_grace
        self._started_sources: list[Source[Any]] = []
        self._stopped = asyncio.Event()
        self.controls = OperatorControls(self)
        """Operator controls and heartbeats (:mod:`engine.controls`); the console's
        runtime."""
        self.services: list[Service] = []
        """Started after the channels, stopped before them (the console,
        :mod:`engine.console.server`)."""

    # --- Intake -------------------------------------------------------------------------
    async def accept(
        self, channel: str, raw: bytes, content_type: str, metadata: Mapping[str, str]
    ) -> Envelope:
        envelope = Envelope.new(
            channel=channel, raw=raw, content_type=content_type, metadata=metadata
        )
        try:
            await self.store.accept(envelope)
        except StoreError as exc:  # the channel refuses (AR 207); a full store is a condition
            self.store_condition.failed(exc)
            raise
        self.store_condition.ok()
        await self.queue.put(Task(TaskKind.PROCESS, envelope.id))
        count("messages.accepted")
        log.debug(
            "Message accepted.",
            extra={
                "message_id": envelope.id,
                "channel": channel,
                "control_id": metadata.get("hl7.control_id", ""),
            },
        )
        return envelope

    async def reject(
        self,
        channel: str,
        raw: bytes,
        content_type: str,
        metadata: Mapping[str, str],
        reason: str,
    ) -> Envelope:
        envelope = Envelope.new(
            channel=channel, raw=raw, content_type=content_type, metadata=metadata
        )
        try:
            await self.store.reject(envelope, reason)
        except StoreError as exc:
            self.store_condition.failed(exc)
            raise
        self.store_condition.ok()
        count("messages.rejected")
        log.debug(
            "Message rejected.",
            extra={"message_id": envelope.id, "channel": channel, "reason": reason},
        )
        return envelope

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Open everything and start accepting. On failure, what was opened is closed."""
        try:
            if self.node is not None:  # one engine per store (per node name on PostgreSQL)
                await self.store.lock_engine(self.node)
            await self.store.open()
            stopped = await self.controls.load()  # paused destinations, stopped channels
            if self.role.runs_tasks:
                for dest in self.destinations.values():
                    await dest.open()
                await self.pipeline.restore_circuits()
            if self.role.watches_store:
                await self._recover()
            if self.role.runs_tasks:
                self.workers.start()
            if self.role.watches_store:
                self.poller.start()
                self.retention.start()
            self.activity.start()
            if self.alerting is not None:
                self.alerting.start()
            if self.children is not None:
                await self.children.start()
                self.reload_hooks.append(self.children.restart_all)
            for source in self.sources:
                if source.name in stopped:
                    self.controls.states[source.name] = STOPPED
                    log.info("Channel left stopped by an operator.", extra={"channel": source.name})
                    continue
                await source.start(self)
                self._started_sources.append(source)
                self.controls.states[source.name] = LISTENING
                log.info(
                    "Channel started.", extra={"channel": source.name, "listen": source.describe()}
                )
            self.controls.start()
            for service in self.services:
                await service.start()
        except BaseException:
            await self.stop()
            raise
        if self.reloader is not None:
            self.reloader.announce()
        log.info(
            "Engine started.",
            extra={
                "role": self.role.value,
                "channels": len(self.sources),
                "destinations": len(self.destinations),
                "worker_processes": self.children.count if self.children else 0,
            },
        )

    async def _recover(self) -> None:
        unfinished = await self.store.unfinished()
        for message_id in unfinished.message_ids:
            await self.queue.put(Task(TaskKind.PROCESS, message_id))
        for delivery_id, _ in unfinished.deliveries:
            # deliver() itself waits until next_attempt_at when it is in the future
            await self.queue.put(Task(TaskKind.DELIVER, delivery_id))
        if unfinished.message_ids or unfinished.deliveries:
            log.info(
                "Resuming unfinished work.",
                extra={
                    "messages": len(unfinished.message_ids),
                    "deliveries": len(unfinished.deliveries),
                },
            )

    async def stop(self) -> None:
        """Graceful stop; idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        for service in reversed(self.services):
            await service.stop()
        await self.controls.stop()
        for source in reversed(self._started_sources):
            try:
                await source.stop()
            except Exception:
                log.exception("Channel did not stop cleanly.", extra={"channel": source.name})
        if self.alerting is not None:
            await self.alerting.stop()
        await self.retention.stop()
        await self.poller.stop()
        if self.reloader is not None:
            await self.reloader.retire()
        if self.children is not None:
            await self.children.stop(self.shutdown_grace)
        await self.workers.stop(self.shutdown_grace)
        await self.activity.stop()
        await self.queue.close()
        for dest in self.destinations.values() if self.role.runs_tasks else ():
            try:
                await dest.close()
            except Exception:
                log.exception(
                    "Destination did not close cleanly.", extra={"destination": dest.name}
                )
        for hook in self.alert_hooks:
            if isinstance(hook, CommandAlert):
                await hook.drain()
        await self.store.close()
        log.info("Engine stopped.")

    async def run(self, until: asyncio.Event | None = None) -> None:
        """Start, run until SIGTERM or SIGINT (or ``until`` is set), then stop gracefully.

        SIGHUP reloads (:meth:`reload`).
        """
        loop = asyncio.get_running_loop()
        stop_requested = until or asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop_requested.set)
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        await self.start()
        try:
            await stop_requested.wait()
            log.info("Stop requested; finishing in-flight work.")
        finally:
            await self.stop()

    def channel_states(self) -> dict[str, str]:
        """Channel name -> ``listening``, ``stopped`` or ``failed`` (:mod:`engine.controls`)."""
        return self.controls.channel_states()

    async def apply_controls(self) -> None:
        """Apply the store's operator controls now (:mod:`engine.controls`)."""
        await self.controls.apply_controls()

    def reload(self) -> None:
        """Reload the configuration file in the background (:mod:`engine.reload`); the
        reloader runs the :attr:`reload_hooks` once applied (worker processes restart).
        Without a file (a worker process, tests), only the hooks run."""
        if self.reloader is None:
            log.info("Reload requested.", extra={"hooks": len(self.reload_hooks)})
            for hook in self.reload_hooks:
                try:
                    hook()
                except Exception:
                    log.exception("Reload hook failed.")
            return
        log.info("Reload requested.", extra={"config": str(self.reloader.path)})
        self.reloader.request()


__all__ = ["Engine", "Role"]
