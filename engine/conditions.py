"""Engine-wide conditions that every channel answers the same way: the store is full.

When the store cannot take a message because its disk (or its database) is full, every
channel refuses every message the same way: MLLP answers AR with ERR 207 ("resend later"),
so senders keep their messages. :class:`StoreCondition` turns the first such failure into
one ERROR line, a counter and a call of the alert hooks, and the first successful commit
afterwards into one line and a "resolved" alert: the engine recovers by itself, without a
restart, as soon as space is freed. (The per-message refusals are still logged by the
channels, at most once a minute with a count: :mod:`engine.log_throttle`.)

Alert hooks (:mod:`engine.alerts`) are called with an event name (``store.full``,
``store.full.resolved``) and figures only (counts, seconds, the error text written by the
store), never patient data.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping

from engine.alerts import AlertHook, raise_alert

log = logging.getLogger(__name__)
_SQLITE_FULL = 13
_DISK_FULL_SQLSTATE = "53100"  # PostgreSQL disk_full
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


def is_store_full(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it was raised from) says the disk or the
    database is full: SQLITE_FULL, ENOSPC/EDQUOT, PostgreSQL ``disk_full``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.Error):
            if getattr(current, "sqlite_errorcode", None) == _SQLITE_FULL:
                return True
            if "database or disk is full" in str(current):
                return True
        if isinstance(current, OSError) and current.errno in _NO_SPACE:
            return True
        if getattr(current, "sqlstate", None) == _DISK_FULL_SQLSTATE:
            return True
        current = current.__cause__ or current.__context__
    return False


class StoreCondition:
    """Tracks whether intake is refused because the store is full (see the module doc).

    Call :meth:`failed` with every store error at intake and :meth:`ok` after every
    successful commit (a cheap attribute test while the store is fine).
    """

    def __init__(
        self, hooks: list[AlertHook] | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.full = False
        self.episodes = 0
        """How many times the store became full (a counter, for metrics)."""
        self.refused_total = 0
        """Messages refused because the store was full (a counter, for metrics)."""
        self.refused = 0
        self.hooks: list[AlertHook] = hooks if hooks is not None else []
        self._since = 0.0
        self._clock = clock

    def failed(self, exc: BaseException) -> None:
        if not is_store_full(exc):
            return
        self.refused += 1
        self.refused_total += 1
        if self.full:
            return
        self.full, self._since = True, self._clock()
        self.episodes += 1
        log.error(
            "Store full: every channel refuses messages (MLLP AR 207, resend later) until "
            "space is freed; the engine resumes by itself.",
            extra={"error": str(exc)},
        )
        self._alert("store.full", {"error": str(exc)})

    def ok(self) -> None:
        if not self.full:
            return
        seconds = round(self._clock() - self._since, 1)
        refused, self.refused, self.full = self.refused, 0, False
        log.warning(
            "Store writable again; channels accept messages.",
            extra={"refused": refused, "seconds": seconds},
        )
        self._alert("store.full.resolved", {"refused": refused, "seconds": seconds})

    def metrics(self) -> dict[str, int]:
        return {
            "store_full": int(self.full),
            "store_full_episodes_total": self.episodes,
            "store_full_refused_total": self.refused_total,
        }

    def _alert(self, event: str, details: Mapping[str, object]) -> None:
        raise_alert(self.hooks, event, details)


__all__ = ["StoreCondition", "is_store_full"]
