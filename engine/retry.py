"""Bounded retry with exponential backoff and full jitter.

``delay(attempt)`` for attempt 1, 2, 3... is uniform in [base/2, base] where
base = min(max_backoff, initial_backoff * multiplier ** (attempt - 1)); a peer's
``Retry-After`` wins when it is longer. After ``max_attempts`` attempts the delivery is dead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 10
    initial_backoff: float = 1.0
    max_backoff: float = 300.0
    multiplier: float = 2.0

    def exhausted(self, attempts: int) -> bool:
        """True when ``attempts`` attempts have been made and no more are allowed."""
        return attempts >= self.max_attempts

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** max(0, attempt - 1))
        jittered = random.uniform(base / 2, base)
        if retry_after is not None:
            return max(jittered, min(retry_after, self.max_backoff))
        return jittered


__all__ = ["RetryPolicy"]
