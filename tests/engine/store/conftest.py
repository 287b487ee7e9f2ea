"""The ``store`` fixture: every contract test runs against each store backend.

``store_factory`` makes new, unopened stores of the test's backend (a fresh schema
each for PostgreSQL, a fresh file each for SQLite); ``store`` is one of them, opened.
The PostgreSQL server is real (``tests.support.postgres``), one per test session.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.store.base import Store
from engine.store.postgres import PostgresStore
from engine.store.sqlite import SqliteStore
from tests.support.postgres import Postgres, postgres_server

__all__ = ["postgres_server"]

BACKENDS = ["sqlite", "postgres"]
StoreFactory = Callable[..., Store]
"""Makes a new, unopened store; keyword arguments go to the store's constructor."""


@pytest.fixture(params=BACKENDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    numbers = itertools.count(1)
    if request.param == "sqlite":
        yield lambda **kw: SqliteStore(tmp_path / f"store{next(numbers)}.db", **kw)
        return
    server: Postgres = request.getfixturevalue("postgres_server")
    schemas: list[str] = []

    def make(**kw: Any) -> Store:
        schemas.append(server.new_schema())
        return PostgresStore(server.dsn(schema=schemas[-1]), min_size=1, max_size=4, **kw)

    yield make
    for name in schemas:
        server.drop_schema(name)


def reopened(store: Store, **kw: Any) -> Store:
    """A new store object on the same file or database as ``store`` (not opened);
    keyword arguments go to its constructor."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store.path, **kw)
    assert isinstance(store, PostgresStore)
    return PostgresStore(store.dsn, min_size=1, max_size=4, **kw)


@pytest.fixture
async def store(store_factory: StoreFactory) -> AsyncIterator[Store]:
    s = store_factory()
    await s.open()
    yield s
    await s.close()
