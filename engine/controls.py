"""Operator controls: standing orders from the store applied to a running engine.

An operator (console, ``passerelle destinations pause``, ``passerelle channels stop``)
records a :class:`~engine.store.console.Control` in the store; every engine process reads
the controls when it starts and every ``poll`` seconds (2 s), so an order given from
another process takes effect within one poll; :meth:`OperatorControls.apply_controls`
applies them at once (the console in the engine's process calls it).

* destination paused: its deliveries wait in the pipeline, spending no attempt (the
  store keeps them pending or retrying); resuming queues them all;
* channel stopped: its source stops (an MLLP port is closed: connections are refused)
  and starts again, at the same address, on ``start``. A source that cannot start again
  (address taken) is ``failed``; it is tried again at every poll.

The engine also writes its heartbeat (:class:`~engine.store.console.NodeStatus`: which
channels listen) every ``heartbeat`` seconds (5 s) so a console in another process and
``/readyz`` know what runs. This object is the console's
:class:`~engine.console.context.EngineRuntime`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.components import Source
from engine.errors import ChannelError, ConfigError, StoreError
from engine.message import utcnow
from engine.store.console import HEARTBEAT_EVERY, Control, NodeStatus

if TYPE_CHECKING:
    from engine.app import Engine

log = logging.getLogger(__name__)

LISTENING, STOPPED, FAILED = "listening", "stopped", "failed"
DESTINATION, CHANNEL = "destination", "channel"


class OperatorControls:
    """Applies the store's controls to ``engine`` and writes its heartbeat."""

    def __init__(
        self, engine: Engine, *, poll: float = 2.0, heartbeat: float = HEARTBEAT_EVERY
    ) -> None:
        self.engine = engine
        self.poll = poll
        self.heartbeat = heartbeat
        self.started_at: datetime = utcnow()
        self.states: dict[str, str] = {}
        """Channel name -> listening, stopped or failed (channels of this process)."""
        self._stopped_channels: frozenset[str] = frozenset()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._beat_at = 0.0

    # --- EngineRuntime ----------------------------------------------------------------
    def channel_states(self) -> dict[str, str]:
        """Channel name -> ``listening``, ``stopped`` or ``failed``."""
        return dict(self.states)

    async def apply_controls(self) -> None:
        """Re-read the store's controls and pause/resume/stop/start accordingly.

        Raises:
            StoreError: the controls cannot be read.
        """
        controls = await self.engine.store.controls()
        async with self._lock:
            await self._apply(controls)

    async def reload(self) -> str:
        """Reload the configuration file now; a one-line summary.

        Raises:
            ConfigError: there is no file to reload, or the new one is refused.
        """
        reloader = self.engine.reloader
        if reloader is None:
            raise ConfigError("this engine was not started from a configuration file")
        if not await reloader.reload():
            lines = [str(e) for e in reloader.last.get("errors") or ["refused"]]
            first = next((e for e in lines if "error[" in e), lines[0])
            raise ConfigError(f"reload refused: {first}")
        return f"{reloader.path.name} reloaded (sequence {reloader.sequence})"

    # --- lifecycle --------------------------------------------------------------------
    async def load(self) -> frozenset[str]:
        """Read the controls before the engine starts work: sets the paused destinations
        and returns the channels that must not start."""
        controls = await self.engine.store.controls()
        self.engine.pipeline.paused = _names(controls, DESTINATION)
        self._stopped_channels = _names(controls, CHANNEL)
        return self._stopped_channels

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="operator-controls")

    async def stop(self) -> None:
        """Stop polling. Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                await self.apply_controls()
                if self.engine.role.watches_store and time.monotonic() >= self._beat_at:
                    await self.write_heartbeat()
                    self._beat_at = time.monotonic() + self.heartbeat
                failing = False
            except StoreError as exc:
                if not failing:  # one line per outage, not one per poll
                    log.warning("Operator controls not read.", extra={"error": str(exc)})
                failing = True
            await asyncio.sleep(self.poll)

    async def write_heartbeat(self) -> None:
        """Record this node's status in the store now."""
        await self.engine.store.save_node_status(
            NodeStatus(
                node=self.engine.node or socket.gethostname(),
                pid=os.getpid(),
                started_at=self.started_at,
                heartbeat_at=utcnow(),
                channels=self.channel_states(),
            )
        )

    # --- applying ---------------------------------------------------------------------
    async def _apply(self, controls: list[Control]) -> None:
        paused = _names(controls, DESTINATION)
        if paused != self.engine.pipeline.paused:
            await self.engine.pipeline.set_paused(paused)
        self._stopped_channels = _names(controls, CHANNEL)
        for index, source in enumerate(list(self.engine.sources)):
            state = self.states.get(source.name)
            if source.name in self._stopped_channels:
                if state != STOPPED:
                    await self._stop(source)
            elif state in (STOPPED, FAILED):
                await self._start(index, source)

    async def _stop(self, source: Source[Any]) -> None:
        if source in self.engine._started_sources:
            self.engine._started_sources.remove(source)
            try:
                await source.stop()
            except Exception:
                log.exception("Channel did not stop cleanly.", extra={"channel": source.name})
        self.states[source.name] = STOPPED
        log.info("Channel stopped by an operator.", extra={"channel": source.name})

    async def _start(self, index: int, source: Source[Any]) -> None:
        if not getattr(source, "restartable", False):  # a fresh one, same name and config
            source = type(source)(source.name, source.config)
            self.engine.sources[index] = source
        was = self.states.get(source.name)
        try:
            await source.start(self.engine)
        except ChannelError as exc:
            if was != FAILED:
                log.warning(
                    "Channel could not start again; retrying.",
                    extra={"channel": source.name, "error": str(exc)},
                )
            self.states[source.name] = FAILED
            return
        self.engine._started_sources.append(source)
        self.states[source.name] = LISTENING
        log.info(
            "Channel started by an operator.",
            extra={"channel": source.name, "listen": source.describe()},
        )


def _names(controls: list[Control], kind: str) -> frozenset[str]:
    return frozenset(c.name for c in controls if c.kind == kind and c.paused)


__all__ = ["CHANNEL", "DESTINATION", "FAILED", "LISTENING", "STOPPED", "OperatorControls"]
