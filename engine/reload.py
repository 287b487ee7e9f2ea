"""Live reload: SIGHUP (or ``passerelle reload``) recompiles routes and maps in place.

A reload reads the configuration file the engine was started with, validates it exactly
as ``passerelle check`` does (every map compiled), and builds the new :class:`Rules`
(router, transforms, orderings, retry and circuit policies) and the destinations whose
settings changed, off the event loop. Only when all of that succeeded is anything
swapped, in one synchronous step (no ``await`` in between), so a task sees either the old
rules or the new ones, never a mix. An invalid file is refused: the diagnostics are
logged (``file:line:col: error[code] ...``, as ``passerelle check`` prints them) and the
running configuration stays in force.

What a reload changes: routes, maps and code tables, transforms, destinations (added,
changed: a new instance, the old one closed after ``shutdown_grace``; removed: their
pending deliveries are dead-lettered when next tried, as after a restart), orderings,
retry and circuit policies. Channels, the store and ``engine`` settings need a restart:
a change there is applied at the next start and logged as such.

Messages routed after the swap use the new routes; deliveries attempted after it use the
new maps, which is what makes ``passerelle replay`` after a reload use the new rules.
Deliveries in flight finish with the rules they started with.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.circuit import CircuitPolicy
from engine.components import Destination
from engine.config.models import Config
from engine.errors import ConfigError, PasserelleError
from engine.queue.ordering import OrderingRule
from engine.retry import RetryPolicy
from engine.router import Router
from engine.runstate import config_digest, remove_state, state_path, write_state

if TYPE_CHECKING:
    from engine.app import Engine
    from engine.pipeline import Transform

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rules:
    """Everything a reload swaps in the pipeline (built by ``assembly.build_rules``)."""

    router: Router
    transforms: Mapping[str, Transform]
    orderings: Mapping[str, OrderingRule]
    policies: Mapping[str, RetryPolicy]
    default_policy: RetryPolicy
    circuits: Mapping[str, CircuitPolicy]
    default_circuit: CircuitPolicy


@dataclass(frozen=True, slots=True)
class _Prepared:
    config: Config
    digest: str
    rules: Rules
    destinations: dict[str, Destination[Any]]
    fresh: list[Destination[Any]]  # instances created for this reload (to open)


class Reloader:
    """Reloads ``path`` into ``engine``; ``config`` is the configuration in force."""

    def __init__(self, engine: Engine, path: Path, config: Config) -> None:
        self.engine = engine
        self.path = path
        self.config = config
        self.digest = config_digest(path, config)
        self.loaded_at = _now()
        self.sequence = 0
        self.last: dict[str, Any] = {"outcome": "started", "errors": [], "at": self.loaded_at}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._retired: list[Destination[Any]] = []

    # --- the state file ---------------------------------------------------------------
    def announce(self) -> None:
        """Write ``engine.json`` (called once the engine has started, and after reloads)."""
        state = {
            "pid": os.getpid(),
            "config": str(self.path.resolve()),
            "digest": self.digest,
            "loaded_at": self.loaded_at,
            "reload": {"sequence": self.sequence, **self.last},
        }
        try:
            write_state(state_path(self.config), state)
        except OSError as exc:
            log.warning("Engine state file not written.", extra={"error": str(exc)})

    async def retire(self) -> None:
        """At stop: remove ``engine.json``, end a reload in progress, close the destinations
        a reload retired that are still open."""
        remove_state(state_path(self.config))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for destination in self._retired:
            await _close(destination)
        self._retired.clear()

    # --- reloading --------------------------------------------------------------------
    def request(self) -> None:
        """Start a reload in the background (the SIGHUP handler); reloads run one at a time."""
        task = asyncio.get_running_loop().create_task(self.reload(), name="config-reload")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self) -> bool:
        """Reload now; True when the new configuration is in force."""
        async with self._lock:
            self.sequence += 1
            try:
                prepared = await asyncio.to_thread(self._prepare)
            except ConfigError as exc:
                self._refused(exc)
                return False
            try:
                for destination in prepared.fresh:
                    await destination.open()
            except (PasserelleError, OSError) as exc:  # e.g. a TLS file that cannot be read
                self._refused(ConfigError(f"a destination cannot open: {exc}"))
                for destination in prepared.fresh:
                    await _close(destination)
                return False
            retired = self._swap(prepared)
            await self.engine.pipeline.set_circuit_policies(
                prepared.rules.circuits, prepared.rules.default_circuit
            )
        self._settle(prepared, retired)
        for hook in list(self.engine.reload_hooks):
            try:
                hook()
            except Exception:
                log.exception("Reload hook failed.")
        return True

    def _prepare(self) -> _Prepared:
        """Load, validate and build everything (in a thread: maps compile here)."""
        from engine.assembly import build_destination, build_rules
        from engine.config.loader import load_config

        config = load_config(self.path)
        rules = build_rules(config)
        running = self.engine.destinations
        destinations: dict[str, Destination[Any]] = {}
        fresh: list[Destination[Any]] = []
        for name, spec in config.destinations.items():
            old = self.config.destinations.get(name)
            same = old is not None and (old.type, old.config) == (spec.type, spec.config)
            if same and name in running:  # retry or ordering changes keep the instance
                destinations[name] = running[name]
            else:
                destinations[name] = build_destination(name, spec)
                fresh.append(destinations[name])
        return _Prepared(config, config_digest(self.path, config), rules, destinations, fresh)

    def _swap(self, prepared: _Prepared) -> list[Destination[Any]]:
        """Put the new rules in force in one synchronous step; return what was retired."""
        pipeline, rules = self.engine.pipeline, prepared.rules
        kept = {id(d) for d in prepared.destinations.values()}
        retired = [d for d in self.engine.destinations.values() if id(d) not in kept]
        pipeline.router = rules.router
        pipeline.transforms = dict(rules.transforms)
        pipeline.orderings = dict(rules.orderings)
        pipeline.policies = rules.policies
        pipeline.default_policy = rules.default_policy
        pipeline.destinations = prepared.destinations
        self.engine.destinations = prepared.destinations
        return retired

    def _settle(self, prepared: _Prepared, retired: list[Destination[Any]]) -> None:
        old, new = self.config, prepared.config
        self.config, self.digest, self.loaded_at = new, prepared.digest, _now()
        restart = [
            f"channels.{name}"
            for name in sorted(set(old.channels) | set(new.channels))
            if old.channels.get(name) != new.channels.get(name)
        ] + [
            section
            for section in ("engine", "store")
            if getattr(old, section) != getattr(new, section)
        ]
        warnings = [str(d) for d in new.warnings]
        self.last = {"outcome": "applied", "errors": [], "warnings": warnings, "at": _now()}
        self.last["restart_needed"] = restart
        self.announce()
        log.info(
            "Configuration reloaded; new routes and maps in force.",
            extra={
                "config": str(self.path),
                "routes": len(new.routes),
                "destinations_replaced": [d.name for d in retired],
            },
        )
        if restart:
            log.warning(
                "Some changes take effect at the next restart only.", extra={"sections": restart}
            )
        if retired:  # in-flight sends get the shutdown grace to finish
            self._retired.extend(retired)
            task = asyncio.get_running_loop().create_task(self._close_retired(retired))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _close_retired(self, retired: list[Destination[Any]]) -> None:
        await asyncio.sleep(self.engine.shutdown_grace)
        for destination in retired:
            if destination in self._retired:
                self._retired.remove(destination)
                await _close(destination)

    def _refused(self, exc: ConfigError) -> None:
        from engine.config.diagnostics import summary

        errors = [str(d) for d in exc.diagnostics] or [str(exc)]
        self.last = {"outcome": "refused", "errors": errors, "at": _now()}
        self.announce()
        log.error(
            "Configuration reload refused (%s); the running configuration is kept.",
            summary(exc.diagnostics) if exc.diagnostics else "1 error",
            extra={"config": str(self.path), "diagnostics": errors},
        )


async def _close(destination: Destination[Any]) -> None:
    try:
        await destination.close()
    except Exception:
        log.exception("Destination did not close cleanly.", extra={"destination": destination.name})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


__all__ = ["Reloader", "Rules"]
