"""PostgreSQL and Redis for the PostgreSQL + dramatiq topologies of the bench.

The bench starts its own throw-away servers in a temp dir (the same helpers the tests
use: ``initdb`` + ``postgres`` on a free loopback port, ``redis-server`` without
persistence), one fresh database per scenario so store bytes per message can be read
(``pg_database_size``). The PostgreSQL server runs with ``fsync=off`` like the tests':
the PostgreSQL figures show the engine's cost on that backend, not a disk's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.support.postgres import Postgres, start_postgres
from tests.support.redis import RedisServer


@dataclass
class Services:
    postgres: Postgres
    redis: RedisServer
    _current: str = ""

    @property
    def redis_url(self) -> str:
        return self.redis.url

    def fresh_database(self) -> str:
        """The DSN of a new empty database (the current one for :meth:`database_size`)."""
        self._current = self.postgres.dsn(self.postgres.new_database())
        return self._current

    def database_size(self) -> int:
        with psycopg.connect(self._current) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0

    @classmethod
    @contextmanager
    def started(cls, directory: Path) -> Iterator[Services]:
        # its own temp dir: the server runs as another user when the bench runs as root
        postgres = start_postgres(Path(tempfile.mkdtemp(prefix="passerelle-bench-pg-")))
        redis = RedisServer(directory / "redis")
        try:
            redis.start()
            yield cls(postgres, redis)
        finally:
            redis.kill()
            postgres.stop()


__all__ = ["Services"]
