"""The alert evaluator: every ``alerts.interval`` it reads the store's summaries, applies
the rules and sends a notice when a rule starts firing for a subject and one when it
clears.

State lives in the store (:class:`~engine.store.console.AlertState`, fingerprint
``<rule>:<subject>``), so a restart or another node never sends the same notice twice.
Among several engines, only the holder of the store lease ``alerts`` evaluates. A
condition that must hold ``for`` some time is first recorded as pending (``firing``
False, ``since`` set). When every notifier of a notice fails, the state is not advanced:
the notice is tried again next round. :meth:`AlertEvaluator.reconfigure` applies a
reloaded configuration. Work per round: a few summary queries (no scan of
messages) and one state write per change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from engine.alerting.notifiers import Notice, Notifier, build_notifiers
from engine.alerting.rules import DeadWindow, Figures, Finding, findings
from engine.config.models import Config
from engine.errors import DeliveryError, StoreError
from engine.store.base import Store
from engine.store.console import AlertState

log = logging.getLogger(__name__)
LEASE = "alerts"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


class AlertEvaluator:
    """Evaluates ``config.alerts`` against ``store``; :meth:`evaluate` is one round."""

    def __init__(
        self,
        store: Store,
        config: Config,
        notifiers: Mapping[str, Notifier],
        *,
        node: str,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.store = store
        self.config = config
        self.rules = {rule.name: rule for rule in config.alerts.rules}
        self.notifiers = dict(notifiers)
        self.node = node
        self.owner = f"{node}:{os.getpid()}"
        self.clock = clock
        self.interval = config.alerts.interval
        self.windows = DeadWindow()
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._started = False
        self._lock = asyncio.Lock()

    async def figures(self) -> Figures:
        channels = {s.channel: s for s in await self.store.channel_summaries()}
        destinations = {s.destination: s for s in await self.store.destination_summaries()}
        circuits = {s.destination: s for s in await self.store.destination_statuses()}
        return Figures(
            channels,
            destinations,
            circuits,
            list(self.config.channels),
            list(self.config.destinations),
        )

    async def evaluate(self) -> list[Notice]:
        """One round; returns the notices delivered to at least one notifier (or recorded,
        without notifiers). Nothing happens unless this process holds the lease."""
        async with self._lock:  # one round at a time (loop, tests, reloads)
            return await self._evaluate()

    async def _evaluate(self) -> list[Notice]:
        lease = max(3 * self.interval, 30.0)
        if not self.rules or not await self.store.acquire_lease(LEASE, self.owner, lease):
            return []
        now = self.clock()
        states = {s.fingerprint: s for s in await self.store.alert_states()}
        sent: list[Notice] = []
        found = findings(list(self.rules.values()), await self.figures(), now, self.windows)
        for finding in found:
            notice = await self._step(finding, states.get(finding.fingerprint), now)
            if notice is not None:
                sent.append(notice)
        watched = {f.fingerprint for f in found}
        for state in states.values():  # its rule or subject left the configuration
            if state.firing and state.fingerprint not in watched:
                gone = AlertState(state.fingerprint, False, None, state.notified_at, now, "removed")
                await self.store.save_alert_state(gone)
        return sent

    async def _step(self, f: Finding, prior: AlertState | None, now: datetime) -> Notice | None:
        firing = prior is not None and prior.firing
        if f.condition is None or (f.condition and firing):
            return None
        if f.condition:
            since = f.started_at or (prior.since if prior is not None else None) or now
            if (now - since).total_seconds() < f.hold:
                if prior is None or prior.since != since:
                    await self.store.save_alert_state(AlertState(f.fingerprint, False, since, None))
                return None
            notice = self._notice("firing", f, since, now)
            if await self._send(f.rule, notice):
                await self.store.save_alert_state(
                    AlertState(f.fingerprint, True, since, now, None, f.detail)
                )
                return notice
            return None
        if prior is None:
            return None
        if not firing:
            if prior.since is not None:  # a pending condition that went away
                await self.store.save_alert_state(
                    AlertState(f.fingerprint, False, None, prior.notified_at, prior.resolved_at)
                )
            return None
        notice = self._notice("resolved", f, prior.since, now)
        if await self._send(f.rule, notice):
            await self.store.save_alert_state(
                AlertState(f.fingerprint, False, None, prior.notified_at, now, f.detail)
            )
            return notice
        return None

    def _notice(self, status: str, f: Finding, since: datetime | None, now: datetime) -> Notice:
        return Notice(
            status,
            f.rule,
            f.kind,
            f.subject,
            f.fingerprint,
            _iso(since),
            _iso(now) or "",
            f.detail,
            self.node,
        )

    async def _send(self, rule: str, notice: Notice) -> bool:
        wanted = self.rules[rule].notify
        targets = [n for name, n in self.notifiers.items() if wanted is None or name in wanted]
        if not targets:
            log.warning("Alert without a notifier.", extra={"alert": notice.fingerprint})
            return True
        results = await asyncio.gather(*(t.send(notice) for t in targets), return_exceptions=True)
        ok = 0
        for target, result in zip(targets, results, strict=True):
            if isinstance(result, BaseException):
                error = str(result) if isinstance(result, DeliveryError) else type(result).__name__
                log.warning(
                    "Alert notice not delivered.",
                    extra={"alert": notice.fingerprint, "notifier": target.name, "error": error},
                )
            else:
                ok += 1
        if ok:
            log.info(
                "Alert notice sent.",
                extra={"alert": notice.fingerprint, "status": notice.status, "notifiers": ok},
            )
        return ok > 0

    def reconfigure(self, config: Config) -> None:
        """Put a reloaded ``alerts:`` section in force (rules, notifiers, interval); called
        on the event loop after a reload. States of unchanged rules carry over."""
        if config.alerts == self.config.alerts and config.destinations == self.config.destinations:
            self.config = config
            return
        old = list(self.notifiers.values())
        self.notifiers = dict(build_notifiers(config))
        self.config, self.interval = config, config.alerts.interval
        self.rules = {rule.name: rule for rule in config.alerts.rules}
        self._closing = asyncio.get_running_loop().create_task(_close_all(old))
        log.info("Alert rules reloaded.", extra={"rules": len(self.rules)})
        if self._started:
            self.start()

    # --- background loop ------------------------------------------------------------
    def start(self) -> None:
        """Evaluate every ``interval`` in the background (while there are rules)."""
        self._started = True
        if (self._task is None or self._task.done()) and self.rules:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while self.rules:
            try:
                await self.evaluate()
            except StoreError as exc:
                log.warning("Alert evaluation failed.", extra={"error": str(exc)})
            except Exception:
                log.exception("Alert evaluation failed.")
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        """Stop the loop and close the notifiers."""
        self._started = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._closing is not None:
            await self._closing
        with contextlib.suppress(Exception):  # hand the lease over at once (expires now)
            await self.store.acquire_lease(LEASE, self.owner, 0.0)
        await _close_all(list(self.notifiers.values()))


async def _close_all(notifiers: list[Notifier]) -> None:
    for notifier in notifiers:
        with contextlib.suppress(Exception):
            await notifier.close()


__all__ = ["LEASE", "AlertEvaluator"]
