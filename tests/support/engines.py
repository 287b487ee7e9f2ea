"""An engine built from routes.yaml text, started for a test and stopped after it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import cast

from channels.mllp.server import MllpSource
from engine.app import Engine
from engine.assembly import build_engine
from engine.config.loader import load_config_text


@asynccontextmanager
async def running_engine(text: str, env: Mapping[str, str] | None = None) -> AsyncIterator[Engine]:
    """Validate ``text`` as routes.yaml, build the engine, start it; stop it on exit."""
    engine = build_engine(load_config_text(text, env=env))
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


def mllp_port(engine: Engine, channel: str | None = None) -> int:
    """The bound port of an MLLP channel (the only one when ``channel`` is None)."""
    sources = [s for s in engine.sources if channel is None or s.name == channel]
    (source,) = sources
    return cast(MllpSource, source).address[1]
