"""A real PostgreSQL server for tests: ``initdb`` in a temp dir, ``postgres`` on a free
loopback port, one fresh database per test.

The binaries are looked up on ``PATH`` then in ``/usr/lib/postgresql/*/bin``. PostgreSQL
refuses to run as root, so as root the cluster belongs to ``nobody`` and every server
program runs under ``setpriv``. The server is for tests only: ``fsync=off`` (the store's
durability comes from PostgreSQL's commit, which is not what these tests measure), trust
authentication, no Unix socket. Without the binaries the tests skip with the reason, or
fail when ``CI=true``.

Use the fixtures: ``postgres_server`` (one per test session) and ``pg_dsn`` (a DSN whose
connections work in a new, empty schema of their own, dropped after the test; use
:meth:`Postgres.new_database` when a test needs a whole database). Import both into a
``conftest.py``.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path

import pytest

from tests.support.mllp import free_port

USER = "passerelle"


def postgres_bin() -> Path:
    """The directory of ``initdb`` and ``postgres``; skips (fails under CI=true) without."""
    candidates = []
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(os.path.realpath(found)).parent)
    candidates += [Path(p) for p in sorted(glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    reason = "PostgreSQL is not installed (apt-get install postgresql)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the PostgreSQL tests")
    pytest.skip(reason)


@dataclass
class Postgres:
    """A running server; :meth:`stop` ends it and removes its files."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes]
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def dsn(self, database: str = "postgres", schema: str | None = None) -> str:
        """A URI; with ``schema``, connections work in it (``search_path``)."""
        options = f"?options=-csearch_path%3D{schema}" if schema else ""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}{options}"

    def execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self) -> str:
        """Create an empty database; return its name."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def new_schema(self) -> str:
        """Create an empty schema in the ``postgres`` database (much cheaper than a
        database, as private to a test once the DSN names it); return its name."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.execute(f"CREATE SCHEMA {name}")
        return name

    def drop_schema(self, name: str) -> None:
        self.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")

    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # smart shutdown is SIGTERM
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def _as_owner(directory: Path) -> tuple[list[str], int, int]:
    """The command prefix that runs a program as the cluster's owner, and its uid/gid."""
    if os.geteuid() != 0:
        return [], os.getuid(), os.getgid()
    account = pwd.getpwnam("nobody")
    uid, gid = account.pw_uid, account.pw_gid
    os.chown(directory, uid, gid)
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"], uid, gid


def start_postgres(directory: Path) -> Postgres:
    """Create a cluster in ``directory`` (created) and start a server on a free port."""
    bin_dir = postgres_bin()
    directory.mkdir(parents=True, exist_ok=True)
    prefix, _, _ = _as_owner(directory)
    data = directory / "data"
    subprocess.run(
        [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
         "--encoding=UTF8", "--locale=C", "--no-sync"],
        check=True, capture_output=True, env={**os.environ, "LC_ALL": "C"},
    )  # fmt: skip
    port = free_port()
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": "",
        "fsync": "off",
        "full_page_writes": "off",
        "max_connections": "100",
        "shared_buffers": "32MB",
        "logging_collector": "off",
    }
    args = [f"--{k}={v}" for k, v in settings.items()]
    log = open(directory / "server.log", "wb")  # noqa: SIM115 - the server's stderr
    try:
        process = subprocess.Popen(
            [*prefix, str(bin_dir / "postgres"), "-D", str(data), *args],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    finally:
        log.close()
    server = Postgres(directory, port, process)
    try:
        _wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: Postgres) -> None:
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"postgres exited: {server.log()[-2000:]}")
        try:
            with psycopg.connect(server.dsn(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start: {server.log()[-2000:]}") from None
            time.sleep(0.05)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    server = start_postgres(Path(tempfile.mkdtemp(prefix="passerelle-pg-")))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_dsn(postgres_server: Postgres) -> Iterator[str]:
    """The DSN of a new, empty schema (the test's own), dropped after the test."""
    name = postgres_server.new_schema()
    try:
        yield postgres_server.dsn(schema=name)
    finally:
        postgres_server.drop_schema(name)


__all__ = ["Postgres", "pg_dsn", "postgres_bin", "postgres_server", "start_postgres"]
