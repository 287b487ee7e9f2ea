"""The console served by ``passerelle run`` (by default) and by ``passerelle console``
beside it, as real processes on a real store."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.engine_process import start_engine, wait_listening
from tests.support.mllp import free_port

CONFIG = """\
version: 1
engine: {{home: {home}}}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:{mllp}", establishment: "750000001"}}
destinations:
  out: {{type: file, directory: {home}/out}}
routes:
  - {{name: all, to: [out]}}
console:
  listen: 127.0.0.1:{console}
"""


@contextmanager
def _login(base: str, password: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=10) as client:
        answer = client.post("/api/v1/session", json={"username": "admin", "password": password})
        assert answer.status_code == 200, answer.text
        client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        yield client


def test_run_serves_the_console_and_a_separate_console_shares_the_store(tmp_path: Path) -> None:
    mllp, port, other = free_port(), free_port(), free_port()
    config = tmp_path / "routes.yaml"
    config.write_text(CONFIG.format(home=tmp_path, mllp=mllp, console=port))
    log = tmp_path / "engine.log"
    engine = start_engine(config, log)
    console = None
    try:
        wait_listening(mllp, engine, log)
        wait_listening(port, engine, log)
        secret_file = tmp_path / "console-admin-password"
        assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
        password = secret_file.read_text().strip()
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        created = [x for x in lines if str(x["msg"]).startswith("Console: created")]
        assert len(created) == 1 and created[0]["level"] == "warning"
        assert created[0]["path"] == str(secret_file) and password not in log.read_text()
        with _login(f"http://127.0.0.1:{port}", password) as client:
            stopped = client.post("/api/v1/channels/mllp_in/stop")
            assert stopped.json() == {"name": "mllp_in", "status": "stopped"}
        # a console in another process, on the same store
        with (tmp_path / "console.log").open("wb") as out:
            console = subprocess.Popen(
                [sys.executable, "-m", "engine.cli", "console", "-c", str(config),
                 "--listen", f"127.0.0.1:{other}"],
                stdout=out, stderr=out,
            )  # fmt: skip
        wait_listening(other, console, tmp_path / "console.log")
        with _login(f"http://127.0.0.1:{other}", password) as client:
            body = client.get("/api/v1/overview").json()
            (channel,) = body["channels"]
            # the engine's heartbeat tells this console the channel is stopped
            assert channel["name"] == "mllp_in" and channel["status"] == "stopped"
            assert body["nodes"] and body["nodes"][0]["alive"] is True
            started = client.post("/api/v1/channels/mllp_in/start")
            assert started.status_code == 200
            audit = client.get("/api/v1/audit", params={"action": "channel.start"}).json()
            assert [e["actor"] for e in audit["items"]] == ["admin"]
        wait_listening(mllp, engine, log)  # the engine applied it within its control poll
        console.send_signal(signal.SIGTERM)
        assert console.wait(timeout=20) == 0
    finally:
        if console is not None and console.poll() is None:
            console.kill()
        engine.send_signal(signal.SIGTERM)
        assert engine.wait(timeout=30) == 0, log.read_text()
