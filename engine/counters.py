"""Process-wide event counters: what the hot paths record instead of logging each message.

Intake, processing and delivery add to named counters (``messages.accepted``,
``messages.routed``, ``deliveries.sent`` ...); :class:`ActivityLog` writes one INFO line
per interval with what changed, so an operator still sees the flow without a log line per
message (per-message lines are DEBUG). Every process (intake, each worker process) counts
its own events. Counter names and values are never patient data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

log = logging.getLogger(__name__)

_counts: Counter[str] = Counter()


def count(name: str, n: int = 1) -> None:
    """Add ``n`` to the counter ``name`` (created at 0). Cheap: a dict update."""
    _counts[name] += n


def snapshot() -> dict[str, int]:
    """Every counter's current value."""
    return dict(_counts)


class ActivityLog:
    """Logs the counters that changed, once per ``interval`` seconds (nothing when idle)."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: dict[str, int] = snapshot()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self.interval > 0:
            self._task = asyncio.create_task(self._run(), name="activity-log")

    def report(self) -> dict[str, int]:
        """Log and return what changed since the last report ({} and no line if nothing)."""
        now = snapshot()
        changed = {k: v - self._last.get(k, 0) for k, v in now.items() if v != self._last.get(k)}
        self._last = now
        if changed:
            log.info("Activity.", extra={"counts": changed, "interval_s": self.interval})
        return changed

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.report()

    async def stop(self) -> None:
        """Stop, logging the last interval's activity. Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.report()


__all__ = ["ActivityLog", "count", "snapshot"]
