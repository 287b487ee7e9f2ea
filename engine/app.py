"""The running engine: it owns the store, the queue, the workers, sources and destinations.

Start order: store → destinations → recovery of unfinished work → workers → store poller
→ sources. Stop order is the reverse: sources stop accepting (in-flight acknowledgements
finish), the poller stops, workers finish or release their tasks, destinations and the
store close. The poller (every ``poll_interval`` seconds) picks up work that appears in the
store from elsewhere, such as ``passerelle replay`` run while the engine is up. The engine is
the :class:`~engine.components.Intake` its sources call; a store that is full is a
condition of every channel (:mod:`engine.conditions`). SIGHUP reloads the configuration
file (:mod:`engine.reload`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine.alerts import AlertHook, CommandAlert
from engine.circuit import DISABLED, CircuitPolicy
from engine.components import Destination, Source
from engine.conditions import StoreCondition
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
from engine.workers import WorkerPool

if TYPE_CHECKING:
    from engine.reload import Reloader

log = logging.getLogger(__name__)


class Engine:
    """One engine process. Use :meth:`start`/:meth:`stop`, or :meth:`run` until a signal."""

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
    ) -> None:
        self.store = store
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
        )
        self.workers = WorkerPool(self.queue, self.pipeline.handle, workers)
        self.alert_hooks: list[AlertHook] = self.pipeline.alert_hooks
        """Called on store-full and circuit events (:mod:`engine.alerts`)."""
        self.store_condition = StoreCondition(self.alert_hooks)
        """Store full: one log line, counters and alert hooks (:mod:`engine.conditions`)."""
        self.reloader: Reloader | None = None
        """Set when the engine runs from a configuration file (``assembly.build_engine``)."""
        self.reload_hooks: list[Callable[[], None]] = []
        """Called after a reload was applied here (e.g. to restart worker processes)."""
        self.poller = StorePoller(store, self.queue, poll_interval)
        self.shutdown_grace = shutdown_grace
        self._started_sources: list[Source[Any]] = []
        self._stopped = asyncio.Event()

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
        log.info(
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
        log.debug(
            "Message rejected.",
            extra={"message_id": envelope.id, "channel": channel, "reason": reason},
        )
        return envelope

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Open everything and start accepting. On failure, what was opened is closed."""
        try:
            await self.store.open()
            for dest in self.destinations.values():
                await dest.open()
            await self.pipeline.restore_circuits()
            await self._recover()
            self.workers.start()
            self.poller.start()
            for source in self.sources:
                await source.start(self)
                self._started_sources.append(source)
                log.info(
                    "Channel started.", extra={"channel": source.name, "listen": source.describe()}
                )
        except BaseException:
            await self.stop()
            raise
        if self.reloader is not None:
            self.reloader.announce()
        log.info(
            "Engine started.",
            extra={"channels": len(self.sources), "destinations": len(self.destinations)},
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
        for source in reversed(self._started_sources):
            try:
                await source.stop()
            except Exception:
                log.exception("Channel did not stop cleanly.", extra={"channel": source.name})
        await self.poller.stop()
        if self.reloader is not None:
            await self.reloader.retire()
        await self.workers.stop(self.shutdown_grace)
        await self.queue.close()
        for dest in self.destinations.values():
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

    async def run(self) -> None:
        """Start, run until SIGTERM or SIGINT, then stop gracefully; SIGHUP reloads."""
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
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

    def reload(self) -> None:
        """Reload the configuration file in the background (:mod:`engine.reload`)."""
        if self.reloader is None:
            log.warning("Reload requested, but this engine was not started from a file.")
            return
        log.info("Reload requested.", extra={"config": str(self.reloader.path)})
        self.reloader.request()


__all__ = ["Engine"]
