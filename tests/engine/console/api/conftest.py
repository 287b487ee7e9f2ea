"""A real SQLite store and a console serving it, per test; ``pg_console`` does the same
on the test PostgreSQL server (``tests.support.postgres``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.store.base import Store
from engine.store.postgres import PostgresStore
from engine.store.sqlite import SqliteStore
from tests.support.console import Console, running_console
from tests.support.postgres import pg_dsn, postgres_server

__all__ = ["pg_dsn", "postgres_server"]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = SqliteStore(tmp_path / "store.db")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def console(tmp_path: Path, store: Store) -> AsyncIterator[Console]:
    async with running_console(tmp_path, store) as c:
        yield c


@pytest.fixture
async def pg_console(tmp_path: Path, pg_dsn: str) -> AsyncIterator[Console]:
    s = PostgresStore(pg_dsn, min_size=1, max_size=4)
    await s.open()
    try:
        async with running_console(tmp_path, s) as c:
            yield c
    finally:
        await s.close()
