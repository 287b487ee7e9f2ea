"""The circuit breaker as a state machine: thresholds, one probe at a time, backoff, restore."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from engine.circuit import DISABLED, CircuitBreaker, CircuitPolicy, CircuitState, Gate
from engine.store.base import DestinationStatus

POLICY = CircuitPolicy(failures=3, probe_interval=10.0, max_probe_interval=35.0)


def opened(now: float = 100.0) -> CircuitBreaker:
    b = CircuitBreaker("platform", POLICY)
    for _ in range(3):
        b.failed(now, "connection refused")
    return b


def test_opens_after_the_threshold_of_consecutive_failures_only() -> None:
    b = CircuitBreaker("platform", POLICY)
    assert not b.failed(1.0, "e") and not b.failed(2.0, "e")
    b.succeeded()  # a success resets the count
    assert not b.failed(3.0, "e") and not b.failed(4.0, "e")
    assert b.state is CircuitState.CLOSED and b.admit(4.0) is Gate.GO
    assert b.failed(5.0, "503 Service Unavailable")
    assert b.state is CircuitState.OPEN and b.opens == 1
    status = b.status()
    assert status.state == "open" and status.last_error == "503 Service Unavailable"
    assert status.next_probe_at == datetime.fromtimestamp(15.0, UTC)


def test_open_circuit_lets_one_probe_through_at_its_time() -> None:
    b = opened(100.0)
    assert b.admit(109.9) is Gate.WAIT
    assert b.admit(110.0) is Gate.PROBE
    assert b.state is CircuitState.HALF_OPEN and b.probing
    assert b.admit(111.0) is Gate.WAIT  # the probe is in flight: everyone else waits
    assert b.succeeded()
    assert b.state is CircuitState.CLOSED and b.admit(111.0) is Gate.GO
    assert b.status().next_probe_at is None


def test_failed_probes_double_the_wait_up_to_the_maximum() -> None:
    b = opened(0.0)
    waits = []
    now = 10.0
    for _ in range(4):
        assert b.admit(now) is Gate.PROBE
        assert b.failed(now, "refused")
        assert b.next_probe_at is not None
        waits.append(b.next_probe_at - now)
        now = b.next_probe_at
    assert waits == [20.0, 35.0, 35.0, 35.0]
    assert b.opens == 1  # reopening after a probe is the same outage


def test_an_abandoned_probe_lets_the_next_delivery_probe() -> None:
    b = opened(0.0)
    assert b.admit(10.0) is Gate.PROBE
    b.abandoned()
    assert b.admit(10.0) is Gate.PROBE


def test_disabled_breaker_always_lets_deliveries_go() -> None:
    b = CircuitBreaker("x", DISABLED)
    for i in range(100):
        assert not b.failed(float(i), "e")
    assert b.admit(100.0) is Gate.GO and b.failures == 100


def test_restore_keeps_an_open_circuit_open_until_its_probe_time() -> None:
    status = opened(50.0).status()
    b = CircuitBreaker("platform", POLICY)
    b.restore(status)
    assert b.state is CircuitState.OPEN and b.opens == 1
    assert b.admit(59.0) is Gate.WAIT and b.admit(60.0) is Gate.PROBE
    closed = CircuitBreaker("platform", POLICY)
    closed.restore(DestinationStatus("platform", "closed", failures=2))
    assert closed.state is CircuitState.CLOSED and closed.failures == 2


events = st.lists(
    st.tuples(st.sampled_from(["admit", "ok", "fail", "abandon"]), st.floats(0, 50)),
    max_size=60,
)


@given(events)
def test_invariants_hold_for_any_sequence_of_events(sequence: list[tuple[str, float]]) -> None:
    b = CircuitBreaker("p", POLICY)
    now = 0.0
    for event, step in sequence:
        now += step
        if event == "admit":
            gate = b.admit(now)
            was_probing = b.probing
            if gate is Gate.PROBE:
                assert b.state is CircuitState.HALF_OPEN and was_probing
            if b.state is CircuitState.CLOSED:
                assert gate is Gate.GO
            else:
                assert gate is not Gate.GO
        elif event == "ok":
            b.succeeded()
            assert b.state is CircuitState.CLOSED and b.failures == 0
        elif event == "fail":
            b.failed(now, "e")
        else:
            b.abandoned()
        if b.state is CircuitState.OPEN:
            assert b.next_probe_at is not None and not b.probing
            assert b.next_probe_at - now <= POLICY.max_probe_interval
        if b.state is CircuitState.CLOSED:
            assert not b.probing
        if b.probing:  # at most one probe, only while half-open
            assert b.state is CircuitState.HALF_OPEN


def test_adopt_takes_up_only_what_another_process_wrote_later() -> None:
    at = datetime.fromtimestamp(200.0, UTC)
    theirs_open = DestinationStatus("platform", "open", 5, at, at, "503", 1, updated_at=at)
    b = CircuitBreaker("platform", POLICY)
    b.saved_at = 300.0  # we wrote after them: their record is older than ours
    assert b.adopt(theirs_open) is None and b.state is CircuitState.CLOSED
    b.saved_at = 100.0
    assert b.adopt(theirs_open) is CircuitState.OPEN and b.state is CircuitState.OPEN
    assert b.adopt(theirs_open) is None  # already open
    later = datetime.fromtimestamp(400.0, UTC)
    theirs_closed = DestinationStatus("platform", "closed", updated_at=later)
    assert b.adopt(theirs_closed) is CircuitState.CLOSED and b.state is CircuitState.CLOSED
    assert CircuitBreaker("p", DISABLED).adopt(theirs_open) is None
