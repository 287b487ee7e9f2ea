"""Alert rules as pure functions: every time comes from an injected ``now``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from engine.alerting.rules import MAX_ERROR, DeadWindow, Figures, Finding, error_text, findings
from engine.config.alerting import (
    BacklogRule,
    ChannelSilentRule,
    DeadLettersRule,
    DestinationFailingRule,
)
from engine.message import DeliveryState, MessageState
from engine.store.base import DestinationStatus
from engine.store.console import ChannelSummary, DestinationSummary

# Thursday 2026-12-03 09:00 UTC = 10:00 in Paris (CET, UTC+1)
THU_10H_PARIS = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
P, R, S, D = (DeliveryState.PENDING, DeliveryState.RETRYING, DeliveryState.SENT, DeliveryState.DEAD)


def figures(
    channels: Sequence[ChannelSummary] = (),
    destinations: Sequence[DestinationSummary] = (),
    circuits: Sequence[DestinationStatus] = (),
) -> Figures:
    return Figures(
        {c.channel: c for c in channels},
        {d.destination: d for d in destinations},
        {c.destination: c for c in circuits},
        ["adt_in", "lab_in"],
        ["dmp", "archive"],
    )


def one(found: list[Finding], subject: str) -> Finding:
    (finding,) = [f for f in found if f.subject == subject]
    return finding


def test_failing_destination_needs_a_newer_error_than_success_and_a_backlog() -> None:
    now = THU_10H_PARIS
    rule = DestinationFailingRule(name="down", kind="destination_failing", **{"for": "5m"})
    failing = DestinationSummary(
        "dmp",
        {R: 3, S: 10},
        last_error="HTTP 503 from platform",
        last_error_at=now - timedelta(minutes=2),
        last_sent_at=now - timedelta(minutes=20),
    )
    recovered = DestinationSummary(
        "archive",
        {P: 1, S: 10},
        last_error="timeout",
        last_error_at=now - timedelta(minutes=5),
        last_sent_at=now - timedelta(minutes=1),
    )
    found = findings([rule], figures(destinations=[failing, recovered]), now, DeadWindow())
    dmp = one(found, "dmp")
    assert dmp.condition is True and dmp.hold == 300.0 and dmp.started_at is None
    assert dmp.fingerprint == "down:dmp"
    assert dmp.detail == (
        "destination dmp: failing, 3 waiting, last sent 20m ago; last error: HTTP 503 from platform"
    )
    assert one(found, "archive").condition is False


def test_open_circuit_fires_from_its_opening_time() -> None:
    now = THU_10H_PARIS
    opened = now - timedelta(minutes=7)
    rule = DestinationFailingRule(
        name="down", kind="destination_failing", destinations=("dmp",), **{"for": "5m"}
    )
    circuit = DestinationStatus("dmp", "open", 5, opened, None, "connection refused")
    (found,) = findings([rule], figures(circuits=[circuit]), now, DeadWindow())
    assert found.condition is True and found.started_at == opened
    assert "circuit open" in found.detail and "connection refused" in found.detail


def test_error_text_is_one_capped_line() -> None:
    text = error_text("line one\n" + "x" * 500)
    assert "\n" not in text and len(text) == MAX_ERROR and text.endswith("…")


def test_dead_letters_total_and_window() -> None:
    now = THU_10H_PARIS
    total = DeadLettersRule(name="dead", kind="dead_letters", threshold=2)
    windowed = DeadLettersRule(name="recent", kind="dead_letters", threshold=2, window="10m")
    windows = DeadWindow()

    def run(dead: int, at: datetime) -> dict[str, bool | None]:
        summary = DestinationSummary("dmp", {D: dead})
        found = findings([total, windowed], figures(destinations=[summary]), at, windows)
        return {f.fingerprint: f.condition for f in found if f.subject == "dmp"}

    assert run(3, now) == {"dead:dmp": True, "recent:dmp": False}  # baseline: 3 already there
    assert run(5, now + timedelta(minutes=4)) == {"dead:dmp": True, "recent:dmp": False}
    assert run(6, now + timedelta(minutes=8)) == {"dead:dmp": True, "recent:dmp": True}
    # 15 minutes later the samples of the first 5 minutes have left the window
    assert run(6, now + timedelta(minutes=23)) == {"dead:dmp": True, "recent:dmp": False}
    assert run(1, now + timedelta(minutes=24)) == {"dead:dmp": False, "recent:dmp": False}


def silent_rule() -> ChannelSilentRule:
    return ChannelSilentRule(
        name="quiet",
        kind="channel_silent",
        channels=("adt_in",),
        hours="08:00-19:00",
        days=("mon", "tue", "wed", "thu", "fri"),
        **{"for": "30m"},
    )


def silent(now: datetime, last: datetime | None) -> bool | None:
    summary = ChannelSummary("adt_in", {MessageState.ROUTED: 1}, last_received_at=last)
    (found,) = findings([silent_rule()], figures(channels=[summary]), now, DeadWindow())
    return found.condition


def test_silence_counts_only_within_the_watched_hours_in_paris() -> None:
    now = THU_10H_PARIS
    assert silent(now, now - timedelta(minutes=10)) is False
    assert silent(now, now - timedelta(minutes=45)) is True
    # 08:20 Paris: the last message was yesterday, but the watch started at 08:00
    at_0820 = datetime(2026, 12, 3, 7, 20, tzinfo=UTC)
    assert silent(at_0820, at_0820 - timedelta(hours=12)) is False
    at_0831 = datetime(2026, 12, 3, 7, 31, tzinfo=UTC)
    assert silent(at_0831, at_0831 - timedelta(hours=12)) is True
    assert silent(at_0831, None) is True


def test_outside_the_hours_only_a_message_ends_the_alert() -> None:
    evening = datetime(2026, 12, 3, 19, 30, tzinfo=UTC)  # 20:30 in Paris
    assert silent(evening, evening - timedelta(hours=3)) is None  # keep the state
    assert silent(evening, evening - timedelta(minutes=5)) is False
    saturday = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert silent(saturday, saturday - timedelta(days=1)) is None


def test_summer_time_shifts_the_hours() -> None:
    # 2026-07-02 06:15 UTC = 08:15 in Paris (CEST): watched, quiet since 08:00 < 30 min
    summer = datetime(2026, 7, 2, 6, 15, tzinfo=UTC)
    assert silent(summer, None) is False
    assert silent(summer + timedelta(minutes=20), None) is True


def test_backlog_by_count_and_by_age() -> None:
    now = THU_10H_PARIS
    rule = BacklogRule(name="queue", kind="backlog", max_messages=100, max_age="15m")
    big = DestinationSummary("dmp", {P: 80, R: 30}, oldest_waiting_at=now - timedelta(minutes=1))
    old = DestinationSummary("archive", {P: 2}, oldest_waiting_at=now - timedelta(minutes=16))
    found = findings([rule], figures(destinations=[big, old]), now, DeadWindow())
    assert one(found, "dmp").condition is True
    assert one(found, "dmp").detail == "destination dmp: 110 waiting, oldest 60s old"
    assert one(found, "archive").condition is True
    calm = DestinationSummary("dmp", {S: 5000}, oldest_waiting_at=None)
    (found_calm,) = findings(
        [BacklogRule(name="q", kind="backlog", destinations=("dmp",), max_age="1m")],
        figures(destinations=[calm]),
        now,
        DeadWindow(),
    )
    assert found_calm.condition is False


def test_subjects_default_to_every_configured_name() -> None:
    rule = BacklogRule(name="queue", kind="backlog", max_messages=0)
    found = findings([rule], figures(), THU_10H_PARIS, DeadWindow())
    assert sorted(f.subject for f in found) == ["archive", "dmp"]
    assert all(f.condition is False for f in found)
