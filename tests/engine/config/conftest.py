"""Test-only channel and destination types, registered once for the config tests.

Real channel types are developed beside this package; these keep the tests independent
of them. Their names start with ``test_`` so they cannot clash with real ones.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import Field

from engine.components import (
    ComponentConfig,
    DeliveryContext,
    Destination,
    Intake,
    Payload,
    Source,
)
from engine.config.types import Duration, HostPort
from engine.registry import destination, source


class SrcConfig(ComponentConfig):
    listen: HostPort = Field(description="Address to listen on.")
    timeout: Duration = Field(30.0, description="Read timeout.")


class SrcAltConfig(ComponentConfig):
    directory: str = Field(description="Directory watched.")


class DestConfig(ComponentConfig):
    directory: str = Field(description="Where files go.")
    timeout: Duration = Field(5.0, description="Write timeout.")


class DestAltConfig(ComponentConfig):
    endpoint: HostPort = Field(description="Peer address.")


@source("test_src", config=SrcConfig)
class DummySource(Source[SrcConfig]):
    """Test-only source."""

    async def start(self, intake: Intake) -> None:
        return None

    async def stop(self) -> None:
        return None


@source("test_src_alt", config=SrcAltConfig)
class DummyAltSource(Source[SrcAltConfig]):
    """Second test-only source."""

    async def start(self, intake: Intake) -> None:
        return None

    async def stop(self) -> None:
        return None


@destination("test_dest", config=DestConfig)
class DummyDestination(Destination[DestConfig]):
    """Test-only destination."""

    async def send(self, payload: Payload, context: DeliveryContext) -> str:
        return ""


@destination("test_dest_alt", config=DestAltConfig)
class DummyAltDestination(Destination[DestAltConfig]):
    """Second test-only destination."""

    async def send(self, payload: Payload, context: DeliveryContext) -> str:
        return ""


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Path]:
    """Write dedented YAML to ``routes.yaml`` in a temporary directory; return its path."""

    def _write(text: str) -> Path:
        path = tmp_path / "routes.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write
