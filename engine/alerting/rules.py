"""Alert rules as pure functions of the store's figures and a clock.

:func:`findings` turns one :class:`Figures` snapshot into a :class:`Finding` per rule and
subject (``<rule>:<subject>``): is the condition true now (``None``: not evaluated now,
keep the previous state), since when if the data says it, how long it must hold, and a
short detail. Details carry names, counts, ages and the store's own error text (capped):
never message content. No I/O, no wall clock: the evaluator passes ``now``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from engine.circuit import CircuitState
from engine.config.alerting import (
    DAYS,
    BacklogRule,
    ChannelSilentRule,
    DeadLettersRule,
    DestinationFailingRule,
    Rule,
)
from engine.message import DeliveryState
from engine.store.base import DestinationStatus
from engine.store.console import ChannelSummary, DestinationSummary

MAX_ERROR = 120
"""Characters of a store ``last_error`` kept in a notice."""


@dataclass(frozen=True, slots=True)
class Figures:
    """What the rules read: summaries (counter-backed), circuit states and the names
    configured (a channel that never received anything has no summary)."""

    channels: Mapping[str, ChannelSummary]
    destinations: Mapping[str, DestinationSummary]
    circuits: Mapping[str, DestinationStatus]
    channel_names: Sequence[str]
    destination_names: Sequence[str]


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule on one subject. ``started_at``: when the condition began, when the data
    knows (else the evaluator's first sighting); ``hold``: seconds it must last."""

    rule: str
    kind: str
    subject: str
    condition: bool | None
    detail: str = ""
    started_at: datetime | None = None
    hold: float = 0.0

    @property
    def fingerprint(self) -> str:
        return f"{self.rule}:{self.subject}"


@dataclass
class DeadWindow:
    """Dead totals sampled per destination, to count the dead letters of a window
    (in memory: after a restart the window restarts from the current total)."""

    samples: dict[str, deque[tuple[datetime, int]]] = field(default_factory=dict)

    def added(self, destination: str, now: datetime, total: int, window: float) -> int:
        """Dead letters added within ``window`` seconds before ``now``."""
        ring = self.samples.setdefault(destination, deque())
        ring.append((now, total))
        horizon = now - timedelta(seconds=window)
        while len(ring) > 1 and ring[1][0] <= horizon:
            ring.popleft()
        return max(0, total - ring[0][1])


def error_text(text: str) -> str:
    """The store's last error, on one line and capped."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_ERROR else flat[: MAX_ERROR - 1] + "…"


def _age(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    return (
        f"{seconds // 60}m" if seconds < 7200 else f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    )


def _pick(wanted: Sequence[str] | None, names: Sequence[str]) -> Sequence[str]:
    return list(wanted) if wanted is not None else list(names)


def _backlog(summary: DestinationSummary | None) -> int:
    return 0 if summary is None else summary.waiting


def _failing(rule: DestinationFailingRule, f: Figures, now: datetime) -> list[Finding]:
    out = []
    for name in _pick(rule.destinations, f.destination_names):
        summary, circuit = f.destinations.get(name), f.circuits.get(name)
        waiting = _backlog(summary)
        started: datetime | None = None
        if circuit is not None and circuit.state in (CircuitState.OPEN, CircuitState.HALF_OPEN):
            state, started = f"circuit {circuit.state}", circuit.opened_at
            error = circuit.last_error or (summary.last_error if summary else "")
        elif summary is not None and waiting > 0 and summary.failed_last:
            state, error = "failing", summary.last_error
        else:
            detail = f"destination {name}: delivering, {waiting} waiting"
            out.append(Finding(rule.name, rule.kind, name, False, detail, hold=rule.for_))
            continue
        detail = f"destination {name}: {state}, {waiting} waiting"
        if summary is not None and summary.last_sent_at is not None:
            detail += f", last sent {_age(now, summary.last_sent_at)} ago"
        if error:
            detail += f"; last error: {error_text(error)}"
        out.append(Finding(rule.name, rule.kind, name, True, detail, started, rule.for_))
    return out


def _dead(rule: DeadLettersRule, f: Figures, now: datetime, windows: DeadWindow) -> list[Finding]:
    out = []
    for name in _pick(rule.destinations, f.destination_names):
        summary = f.destinations.get(name)
        total = summary.counts.get(DeliveryState.DEAD, 0) if summary else 0
        dead, scope = total, "dead letters"
        if rule.window is not None:
            dead = windows.added(f"{rule.name}:{name}", now, total, rule.window)
            scope = f"dead letters in the last {_age(now, now - timedelta(seconds=rule.window))}"
        detail = f"destination {name}: {dead} {scope} (threshold {rule.threshold})"
        if dead > rule.threshold and summary is not None and summary.last_error:
            detail += f"; last error: {error_text(summary.last_error)}"
        out.append(Finding(rule.name, rule.kind, name, dead > rule.threshold, detail))
    return out


def _silent(rule: ChannelSilentRule, f: Figures, now: datetime) -> list[Finding]:
    local = now.astimezone(ZoneInfo(rule.timezone))
    start, end = rule.window()
    opened = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    watching = (
        DAYS[local.weekday()] in rule.days
        and start <= local.time()
        and (end is None or local.time() < end)
    )
    out = []
    for name in _pick(rule.channels, f.channel_names):
        summary = f.channels.get(name)
        last = summary.last_received_at if summary else None
        detail = f"channel {name}: no message for {_age(now, last)}"
        if not watching:  # outside the hours: only a message ends a firing alert
            recent = last is not None and now - last < timedelta(seconds=rule.for_)
            out.append(Finding(rule.name, rule.kind, name, False if recent else None, detail))
            continue
        quiet_since = max(last, opened) if last is not None else opened
        silent = (now - quiet_since).total_seconds() >= rule.for_
        out.append(Finding(rule.name, rule.kind, name, silent, detail, quiet_since))
    return out


def _backlog_rule(rule: BacklogRule, f: Figures, now: datetime) -> list[Finding]:
    out = []
    for name in _pick(rule.destinations, f.destination_names):
        summary = f.destinations.get(name)
        waiting = _backlog(summary)
        oldest = summary.oldest_waiting_at if summary else None
        age = (now - oldest).total_seconds() if oldest is not None and waiting else 0.0
        over = (rule.max_messages is not None and waiting > rule.max_messages) or (
            rule.max_age is not None and age > rule.max_age
        )
        detail = f"destination {name}: {waiting} waiting, oldest {_age(now, oldest)} old"
        out.append(Finding(rule.name, rule.kind, name, over, detail))
    return out


def findings(
    rules: Sequence[Rule], figures: Figures, now: datetime, windows: DeadWindow
) -> list[Finding]:
    """Every rule on every subject it watches (``now`` is an aware UTC datetime)."""
    out: list[Finding] = []
    for rule in rules:
        if isinstance(rule, DestinationFailingRule):
            out += _failing(rule, figures, now)
        elif isinstance(rule, DeadLettersRule):
            out += _dead(rule, figures, now, windows)
        elif isinstance(rule, ChannelSilentRule):
            out += _silent(rule, figures, now)
        else:
            out += _backlog_rule(rule, figures, now)
    return out


__all__ = ["MAX_ERROR", "DeadWindow", "Figures", "Finding", "error_text", "findings"]
