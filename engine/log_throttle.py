"""Repeated identical failures are logged once per interval, with a count.

A full disk or a dead database makes every message fail the same way; logging each
failure (with its traceback) buries everything else and can itself fill the disk.
:class:`RepeatFilter`, installed on the log handler by :func:`engine.logs.configure`, lets
the first WARNING-or-worse record of a kind through, drops the identical ones that follow
for ``interval`` seconds, and lets the next one after that through with ``repeated=N``:
how many identical records were dropped since the last one shown. Records below WARNING
are never held back (per-message lines are DEBUG anyway).

Two records are identical when they come from the same logger at the same level with the
same rendered message and the same ``error`` field; ids in ``extra`` (message, delivery,
control id) do not make them different, so a storm over many messages is one line a
minute. The filter keeps at most ``max_kinds`` kinds (least recently seen dropped first).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_INTERVAL = 60.0


@dataclass(slots=True)
class _Seen:
    shown_at: float
    dropped: int = 0


class RepeatFilter(logging.Filter):
    """A handler filter; thread-safe (the store writer thread logs too)."""

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        *,
        level: int = logging.WARNING,
        max_kinds: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.level = level
        self.max_kinds = max_kinds
        self._clock = clock
        self._seen: OrderedDict[tuple[str, int, str, str], _Seen] = OrderedDict()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a broken format string is the handler's to report
            return True
        key = (record.name, record.levelno, text, str(getattr(record, "error", "")))
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen.shown_at < self.interval:
                seen.dropped += 1
                self._seen.move_to_end(key)
                return False
            if seen is not None and seen.dropped:
                record.repeated = seen.dropped
            self._seen[key] = _Seen(now)
            self._seen.move_to_end(key)
            while len(self._seen) > self.max_kinds:
                self._seen.popitem(last=False)
        return True


__all__ = ["DEFAULT_INTERVAL", "RepeatFilter"]
