"""Throttled connection-level warnings: a flood gives one line per kind per interval."""

from __future__ import annotations

import logging

import pytest

from channels.mllp.notices import Notices


def test_one_line_per_kind_per_interval_with_the_count_of_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    notices = Notices(logging.getLogger("test.notices"), interval=60, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="test.notices")
    extra = {"channel": "in"}
    assert notices.warn("refused", "Connection refused: %s.", "full", extra=extra)
    for _ in range(999):
        notices.warn("refused", "Connection refused: %s.", "full", extra=extra)
    assert notices.warn("evicted", "Closing one.", extra=extra)  # another kind: logged
    now[0] = 61.0
    assert notices.warn("refused", "Connection refused: %s.", "full", extra=extra)
    refused = [r for r in caplog.records if r.getMessage() == "Connection refused: full."]
    assert len(refused) == 2
    assert refused[1].__dict__["suppressed"] == "999"
    assert not hasattr(refused[0], "suppressed")
