"""Fixtures: a test FHIR platform (real HTTP server on 127.0.0.1) per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from channels.fhir import FhirDestination, FhirDestinationConfig
from engine.sandbox.fhir_platform import FhirPlatform

MakeDestination = Callable[..., Awaitable[FhirDestination]]


@pytest.fixture(scope="module")
def shared_platform() -> Iterator[FhirPlatform]:
    with FhirPlatform() as started:
        yield started


@pytest.fixture
def platform(shared_platform: FhirPlatform) -> FhirPlatform:
    """The module's plain-HTTP platform, reset (empty, up, no failure mode)."""
    shared_platform.reset()
    return shared_platform


@pytest.fixture
async def make_destination() -> AsyncIterator[MakeDestination]:
    """``await make_destination(base_url=..., **config)`` → an opened destination, closed
    at teardown."""
    opened: list[FhirDestination] = []

    async def make(**config: Any) -> FhirDestination:
        dest = FhirDestination("platform", FhirDestinationConfig.model_validate(config))
        await dest.open()
        opened.append(dest)
        return dest

    yield make
    for dest in opened:
        await dest.close()
