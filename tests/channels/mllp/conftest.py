"""Fixtures: start MLLP sources on 127.0.0.1:0 and stop them after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from channels.mllp.config import MllpSourceConfig
from channels.mllp.server import MllpSource
from tests.channels.mllp.support import RecordingIntake

StartServer = Callable[..., Awaitable[MllpSource]]


@pytest.fixture
def intake() -> RecordingIntake:
    return RecordingIntake()


@pytest.fixture
async def start_server(intake: RecordingIntake) -> AsyncIterator[StartServer]:
    """``await start_server(**config)`` → a started source using the ``intake`` fixture
    (or ``intake=...``); every source is stopped at teardown."""
    started: list[MllpSource] = []

    async def start(*, intake_: Any = None, **config: Any) -> MllpSource:
        cfg = MllpSourceConfig.model_validate({"listen": "127.0.0.1:0", **config})
        src = MllpSource("mllp-in", cfg)
        await src.start(intake_ or intake)
        started.append(src)
        return src

    yield start
    for src in started:
        await src.stop()
