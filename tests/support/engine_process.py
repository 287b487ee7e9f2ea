"""Run the real ``passerelle run`` in a subprocess for tests, and wait until it listens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def start_engine(
    config: Path, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``python -m engine.cli run -c CONFIG``, appending its output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "--log-format", "json", "run", "-c", str(config)],
            stdout=out,
            stderr=out,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )


def wait_listening(
    port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> None:
    """Block until 127.0.0.1:port accepts connections; fail with the log if the engine died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"engine exited early:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"engine did not listen on {port}:\n{log.read_text()}")
