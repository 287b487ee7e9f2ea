"""Repeated identical failures: the first shown, the rest counted, one line per interval."""

from __future__ import annotations

import io
import json
import logging

import pytest

from engine.log_throttle import RepeatFilter
from engine.logs import JsonFormatter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup() -> tuple[logging.Logger, io.StringIO, Clock]:
    clock = Clock()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RepeatFilter(60.0, clock=clock))
    logger = logging.getLogger("tests.throttle")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, out, clock


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(x) for x in out.getvalue().splitlines()]


def test_a_storm_of_identical_failures_is_one_line_per_interval_with_a_count(
    setup: tuple[logging.Logger, io.StringIO, Clock],
) -> None:
    logger, out, clock = setup
    error = "store commit failed: database or disk is full"
    for i in range(2400):  # 40 s of the storm the probe saw, one record per message
        clock.now += 40 / 2400
        logger.error("Message could not be stored.", extra={"error": error, "control_id": f"C{i}"})
    assert len(lines(out)) == 1
    clock.now += 30  # 70 s after the first: the next one goes, carrying the count
    logger.error("Message could not be stored.", extra={"error": error, "control_id": "C-last"})
    first, second = lines(out)
    assert "repeated" not in first and second["repeated"] == 2399
    assert second["control_id"] == "C-last"


def test_different_failures_and_lower_levels_are_not_held_back(
    setup: tuple[logging.Logger, io.StringIO, Clock],
) -> None:
    logger, out, _ = setup
    for _ in range(3):
        logger.error("Store commit failed.", extra={"error": "disk full"})
        logger.error("Store commit failed.", extra={"error": "database is locked"})
        logger.warning("Delivery refused; dead letter.")
        logger.info("Delivered.")
        logger.debug("Message committed.")
    got = [(x["msg"], x.get("error")) for x in lines(out)]
    assert got[:4] == [
        ("Store commit failed.", "disk full"),
        ("Store commit failed.", "database is locked"),
        ("Delivery refused; dead letter.", None),
        ("Delivered.", None),
    ]
    assert len(got) == 3 + 2 * 3  # the three kinds once, info and debug every time


def test_tracebacks_of_repeated_failures_are_dropped_too(
    setup: tuple[logging.Logger, io.StringIO, Clock],
) -> None:
    logger, out, _ = setup
    for _ in range(50):
        try:
            raise OSError(28, "No space left on device")
        except OSError:
            logger.exception("Task failed.")
    (line,) = lines(out)
    assert "No space left on device" in str(line["exc"])


def test_the_number_of_kinds_remembered_is_bounded() -> None:
    clock = Clock()
    f = RepeatFilter(60.0, max_kinds=10, clock=clock)
    for i in range(100):
        record = logging.LogRecord("x", logging.ERROR, "", 0, f"failure {i}", None, None)
        assert f.filter(record)
    assert len(f._seen) == 10
