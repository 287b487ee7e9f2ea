"""Engine tests on every store backend: the ``new_store`` fixture.

``new_store()`` makes a new store object on the test's storage (the same SQLite file, or
the same PostgreSQL schema, every call), so a test can run an engine, "restart" it, and
act as the CLI from another process. A module using it imports ``new_store``,
``pg_dsn`` and ``postgres_server`` (the fixtures it depends on).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.store.base import Store
from engine.store.postgres import PostgresStore
from engine.store.sqlite import SqliteStore

NewStore = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgres"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> NewStore:
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "store.db")
    dsn: str = request.getfixturevalue("pg_dsn")
    return lambda: PostgresStore(dsn, min_size=1, max_size=8)


__all__ = ["NewStore", "new_store"]
