"""Fixtures of the topology tests: a real PostgreSQL server (one per session), a dev PKI
and a real SMTP server."""

from tests.support.postgres import pg_dsn, postgres_server
from tests.support.smtp_server import pki, smtp

__all__ = ["pg_dsn", "pki", "postgres_server", "smtp"]
