"""Bounded retry with exponential backoff and full jitter.

``delay(attempt)`` for attempt 1, 2, 3... is uniform in [base/2, base] where
base = min(max_backoff, initial_backoff * multiplier ** (attempt - 1)); a peer's
``Retry-After`` wins when it is longer.

A delivery is dead when its budget is spent: ``max_attempts`` attempts (when set), or
``max_age`` seconds since the delivery was created or last replayed (when set), whichever
comes first. The default bounds by age only (24 hours), so an outage shorter than that
dead-letters nothing however many attempts it costs; with the circuit breaker
(:mod:`engine.circuit`) an outage costs few attempts anyway.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long a failing delivery is retried. ``None`` disables a bound; at least one of
    ``max_attempts`` and ``max_age`` must be set (``ValueError`` otherwise)."""

    max_attempts: int | None = None
    initial_backoff: float = 1.0
    max_backoff: float = 300.0
    multiplier: float = 2.0
    max_age: float | None = DAY

    def __post_init__(self) -> None:
        if self.max_attempts is None and self.max_age is None:
            raise ValueError("a retry policy needs max_attempts or max_age (or both)")

    def exhausted(self, attempts: int, age: float = 0.0) -> bool:
        """True when no more attempts are allowed after ``attempts`` attempts, the
        delivery being ``age`` seconds old (since creation or its last replay)."""
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return True
        return self.max_age is not None and age >= self.max_age

    def spent(self, attempts: int, age: float) -> str:
        """Why the budget is spent, for the dead-letter reason (call when exhausted)."""
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return f"gave up after {attempts} attempts"
        return f"gave up after {attempts} attempts in {_span(age)} (max_age {_span(self.max_age)})"

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** max(0, attempt - 1))
        jittered = random.uniform(base / 2, base)
        if retry_after is not None:
            return max(jittered, min(retry_after, self.max_backoff))
        return jittered


def _span(seconds: float | None) -> str:
    value = seconds or 0.0
    for unit, size in (("d", DAY), ("h", 3600.0), ("m", 60.0)):
        if value >= size:
            return f"{value / size:.4g}{unit}"
    return f"{value:.3g}s"


__all__ = ["RetryPolicy"]
