"""The ``store`` fixture: every contract test runs against each store backend.

``store_factory`` makes new, unopened stores of the test's backend (a fresh database
each for PostgreSQL, a fresh file each for SQLite); ``store`` is one of them, opened.
The PostgreSQL server is real (``tests.support.postgres``), one per test session.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from engine.store.base import Store
from engine.store.postgres import PostgresStore
from engine.store.sqlite import SqliteStore
from tests.support.postgres import Postgres, postgres_server

__all__ = ["postgres_server"]

BACKENDS = ["sqlite", "postgres"]
StoreFactory = Callable[[], Store]


@pytest.fixture(params=BACKENDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    numbers = itertools.count(1)
    if request.param == "sqlite":
        yield lambda: SqliteStore(tmp_path / f"store{next(numbers)}.db")
        return
    server: Postgres = request.getfixturevalue("postgres_server")
    databases: list[str] = []

    def make() -> Store:
        databases.append(server.new_database())
        return PostgresStore(server.dsn(databases[-1]), min_size=1, max_size=4)

    yield make
    for name in databases:
        server.drop_database(name)


def reopened(store: Store) -> Store:
    """A new store object on the same file or database as ``store`` (not opened)."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store.path)
    assert isinstance(store, PostgresStore)
    return PostgresStore(store.dsn, min_size=1, max_size=4)


@pytest.fixture
async def store(store_factory: StoreFactory) -> AsyncIterator[Store]:
    s = store_factory()
    await s.open()
    yield s
    await s.close()
