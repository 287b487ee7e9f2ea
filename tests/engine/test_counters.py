"""Counters instead of per-message INFO lines; one activity line per interval."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from engine import counters
from engine.message import HL7V2
from tests.support.engines import running_engine
from tests.support.mllp import adt


def test_activity_reports_what_changed_once_and_nothing_when_idle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    activity = counters.ActivityLog(interval=60)
    counters.count("test.things", 3)
    counters.count("test.things")
    with caplog.at_level(logging.INFO, logger="engine.counters"):
        assert activity.report() == {"test.things": 4}
        assert activity.report() == {}
    (line,) = [r for r in caplog.records if r.getMessage() == "Activity."]
    assert line.counts == {"test.things": 4}  # type: ignore[attr-defined]


async def test_accepting_and_routing_log_no_info_line_per_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = f"""\
version: 1
engine: {{home: {tmp_path}, workers: 2, shutdown_grace: 2s}}
destinations:
  out: {{type: file, directory: {tmp_path}/out}}
routes:
  - {{name: all, to: [out]}}
"""
    before = counters.snapshot()
    with caplog.at_level(logging.INFO):
        async with running_engine(config) as engine:
            caplog.clear()
            for i in range(5):
                await engine.accept("in", adt(f"C{i}"), HL7V2, {"hl7.control_id": f"C{i}"})
            while len(list((tmp_path / "out").glob("*.hl7"))) < 5:
                await asyncio.sleep(0.01)
            per_message = [r for r in caplog.records if r.getMessage() != "Stop requested."]
            assert per_message == []
    after = counters.snapshot()
    for name in ("messages.accepted", "messages.routed", "deliveries.sent"):
        assert after.get(name, 0) - before.get(name, 0) == 5
