"""The circuit breaker of a destination: a down peer costs a few attempts, not thousands.

States:

* ``closed``: deliveries go. Each transient failure counts; a success (or a definitive
  refusal: the peer answered) resets the count. After ``failures`` consecutive transient
  failures the circuit **opens**.
* ``open``: deliveries are not attempted and spend no attempts; they wait (the pipeline
  parks them). After ``probe_interval`` one delivery may go as a **probe**.
* ``half-open``: the probe is in flight, every other delivery still waits. If it succeeds
  the circuit closes and the waiting deliveries go; if it fails the circuit opens again and
  the next probe waits twice as long, up to ``max_probe_interval``.

A failed probe is recorded in its delivery's history but not counted against its retry
budget (:meth:`~engine.store.base.Store.record_probe`), so a long outage dead-letters
nothing. The breaker lives in memory (one per destination per process) and every change
of state is written to the store (``destination_status``), where ``passerelle
destinations`` and ``passerelle messages list`` read it, where a restarted engine finds
an open circuit still open, and where the other processes delivering to the same
destination take the change up within seconds (:meth:`CircuitBreaker.adopt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum

from engine.store.base import DestinationStatus


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class Gate(Enum):
    """What :meth:`CircuitBreaker.admit` allows one delivery to do."""

    GO = "go"  # closed: send
    PROBE = "probe"  # send as the probe; report the outcome
    WAIT = "wait"  # do not send; wait for the circuit to close


@dataclass(frozen=True, slots=True)
class CircuitPolicy:
    """``failures`` consecutive transient failures open the circuit; the first probe goes
    after ``probe_interval`` seconds, later ones after twice the previous wait, at most
    ``max_probe_interval``. ``enabled`` False: deliveries always go."""

    failures: int = 5
    probe_interval: float = 30.0
    max_probe_interval: float = 300.0
    enabled: bool = True


DISABLED = CircuitPolicy(enabled=False)


def _at(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


class CircuitBreaker:
    """One destination's breaker. Times are UNIX seconds given by the caller (testable
    without a clock); every method is synchronous and cheap (no I/O)."""

    def __init__(self, destination: str, policy: CircuitPolicy) -> None:
        self.destination = destination
        self.policy = policy
        self.state = CircuitState.CLOSED
        self.failures = 0
        self.opens = 0
        self.opened_at: float | None = None
        self.next_probe_at: float | None = None
        self.last_error = ""
        self._interval = policy.probe_interval
        self._probing = False
        self.saved_at = 0.0
        """When this process last finished writing the state to the store (UNIX time)."""

    @property
    def probing(self) -> bool:
        """True while a probe admitted by :meth:`admit` has not reported."""
        return self._probing

    def restore(self, status: DestinationStatus) -> None:
        """Take up a state recorded by an earlier run: an open or half-open circuit stays
        open (its probe, if one was in flight, never reported), due at its probe time."""
        self.failures, self.opens, self.last_error = (
            status.failures,
            status.opens,
            status.last_error,
        )
        self.opened_at = status.opened_at.timestamp() if status.opened_at else None
        if status.state != CircuitState.CLOSED and self.policy.enabled:
            self.state = CircuitState.OPEN
            probe = status.next_probe_at or status.updated_at
            self.next_probe_at = probe.timestamp() if probe else 0.0

    def adopt(self, status: DestinationStatus) -> CircuitState | None:
        """Take up a change another process recorded after this one's last write (several
        processes deliver to one destination): an open circuit there opens this one, a
        closed one closes it. Returns the state taken up, or None when nothing changed."""
        written = status.updated_at.timestamp() if status.updated_at else 0.0
        if not self.policy.enabled or written <= self.saved_at or self._probing:
            return None
        if status.state != CircuitState.CLOSED and self.state is CircuitState.CLOSED:
            self.restore(status)
            return CircuitState.OPEN
        if status.state == CircuitState.CLOSED and self.state is not CircuitState.CLOSED:
            self.succeeded()
            return CircuitState.CLOSED
        return None

    def admit(self, now: float) -> Gate:
        """May a delivery go now? ``PROBE``: yes, as the one probe (report its outcome
        with :meth:`succeeded`, :meth:`failed` or :meth:`abandoned`)."""
        if not self.policy.enabled or self.state is CircuitState.CLOSED:
            return Gate.GO
        if self._probing or now < (self.next_probe_at or 0.0):
            return Gate.WAIT
        self.state = CircuitState.HALF_OPEN
        self._probing = True
        return Gate.PROBE

    def succeeded(self) -> bool:
        """The peer took a delivery (or answered with a definitive refusal). True when
        the circuit closed because of it."""
        self.failures = 0
        self._probing = False
        if self.state is CircuitState.CLOSED:
            return False
        self.state = CircuitState.CLOSED
        self.next_probe_at = None
        self._interval = self.policy.probe_interval
        return True

    def failed(self, now: float, error: str) -> bool:
        """A transient failure. True when the circuit (re)opened because of it."""
        self.failures += 1
        self.last_error = error
        if not self.policy.enabled:
            return False
        if self.state is CircuitState.HALF_OPEN:
            self._interval = min(self.policy.max_probe_interval, self._interval * 2)
        elif self.state is CircuitState.OPEN or self.failures < self.policy.failures:
            return False  # open: a send that started before it opened; closed: below threshold
        else:
            self.opens += 1
            self.opened_at = now
            self._interval = self.policy.probe_interval
        self.state = CircuitState.OPEN
        self._probing = False
        self.next_probe_at = now + self._interval
        return True

    def abandoned(self) -> None:
        """The probe ended without reaching the peer (e.g. its mapping failed): the next
        delivery that asks may probe."""
        self._probing = False

    def status(self) -> DestinationStatus:
        return DestinationStatus(
            destination=self.destination,
            state=self.state.value,
            failures=self.failures,
            opened_at=_at(self.opened_at),
            next_probe_at=_at(self.next_probe_at)
            if self.state is not CircuitState.CLOSED
            else None,
            last_error=self.last_error,
            opens=self.opens,
        )


__all__ = ["DISABLED", "CircuitBreaker", "CircuitPolicy", "CircuitState", "Gate"]
