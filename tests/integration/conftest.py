"""Fixtures of the topology tests: a real PostgreSQL server (one per session)."""

from tests.support.postgres import pg_dsn, postgres_server

__all__ = ["pg_dsn", "postgres_server"]
