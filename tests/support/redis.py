"""A real ``redis-server`` for tests, on a free port in a temp dir.

Persistence is off (``save ""``, no AOF), like a cache-only Redis: a restart loses every
queued task, which is what the "Redis lost mid-load" tests want. Without the binary the
tests skip with the reason, or fail when ``CI=true`` (CI installs it, see ``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mllp import free_port


def redis_binary() -> str:
    """The redis-server path; skips the test (fails under CI=true) when it is missing."""
    found = shutil.which("redis-server")
    if found is None:
        reason = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the Redis tests")
        pytest.skip(reason)
    return found


class RedisServer:
    """One redis-server process; :meth:`start`, :meth:`kill` (SIGKILL) and start again."""

    def __init__(self, directory: Path) -> None:
        self.binary = redis_binary()
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> None:
        log = (self.directory / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited: {self.log()}")
            if self.ping():
                return
            time.sleep(0.05)
        raise AssertionError(f"redis-server did not answer on {self.port}: {self.log()}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: everything queued in it is gone (no persistence)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def log(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def running_redis(directory: Path) -> Iterator[RedisServer]:
    """Start a server for a fixture; kill it afterwards."""
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.kill()


__all__ = ["RedisServer", "redis_binary", "running_redis"]
