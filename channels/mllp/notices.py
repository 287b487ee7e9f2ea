"""Connection-level log lines of an MLLP listener, at most one per kind per interval.

A connection flood (thousands of idle connections, a port scan, a CR drip) must not turn
into thousands of log lines. :class:`Notices` logs the first event of a kind at once, then
counts the same kind for ``interval`` seconds; the next one logged after that carries
``suppressed`` = how many were not. Kinds are the caller's short keys (``refused``,
``evicted``, ``timeout``...), never built from received data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

INTERVAL = 60.0


class Notices:
    """Throttled warnings for one listener; ``clock`` is injectable for tests."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warn(
        self, kind: str, message: str, *args: Any, extra: Mapping[str, str], level: int = 30
    ) -> bool:
        """Log ``message % args`` unless ``kind`` was logged less than ``interval`` ago;
        True when logged."""
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False
        self._last[kind] = now
        fields = dict(extra)
        suppressed = self._suppressed.pop(kind, 0)
        if suppressed:
            fields["suppressed"] = str(suppressed)
        self._log.log(level, message, *args, extra=fields)
        return True


__all__ = ["INTERVAL", "Notices"]
