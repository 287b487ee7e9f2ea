"""Reload of a running ``passerelle run`` (real process, MLLP, CLI): SIGHUP with a broken
file keeps the running configuration and logs the diagnostics; ``passerelle reload``
applies a fixed map and ``passerelle replay`` then uses it; back-to-back replays of the
same message both take effect."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.engine.test_reload import MAP
from tests.support.engine_process import start_engine, wait_listening
from tests.support.mllp import MllpPeer, adt, free_port, msa

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

CONFIG = """\
version: 1
engine: {{home: {home}, mappings: {maps}, poll_interval: 100ms, shutdown_grace: 1s}}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:{port}"}}
destinations:
  out: {{type: file, directory: {home}/out, fsync: false}}
routes:
  - {{name: main, map: tag, validate: false, to: [{target}]}}
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=60,
    )


def wait_until(condition: Callable[[], bool], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def output(home: Path, control_id: str) -> str | None:
    path = home / "out" / f"GAM_CHU-EXEMPLE_{control_id}.json"
    if not path.exists():
        return None
    return str(json.loads(path.read_text())["code"]["text"])


async def test_sighup_reload_and_replay_with_the_new_map(tmp_path: Path) -> None:
    home, maps, port = tmp_path / "home", tmp_path / "maps", free_port()
    maps.mkdir()
    (maps / "tag.yaml").write_text(MAP.format(version="v1"))
    config, log = tmp_path / "routes.yaml", tmp_path / "engine.log"

    def configure(target: str = "out") -> None:
        config.write_text(CONFIG.format(home=home, maps=maps, port=port, target=target))

    configure()
    proc = start_engine(config, log)
    try:
        wait_listening(port, proc, log)
        async with MllpPeer("127.0.0.1", port) as peer:
            assert msa(await peer.exchange(adt("C1")))[1] == "AA"
        wait_until(lambda: output(home, "C1") == "v1", log)

        # a broken file and SIGHUP: refused with the diagnostics, old rules kept
        configure(target="nowhere")
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload refused" in log.read_text(), log)
        (line,) = [json.loads(x) for x in log.read_text().splitlines() if "reload refused" in x]
        assert line["level"] == "error"
        assert any("error[unknown-destination]" in d for d in line["diagnostics"])
        assert any(d.startswith(f"{config}:8:") for d in line["diagnostics"]), line
        async with MllpPeer("127.0.0.1", port) as peer:
            assert msa(await peer.exchange(adt("C2")))[1] == "AA"
        wait_until(lambda: output(home, "C2") == "v1", log)
        assert proc.poll() is None

        # `passerelle reload` checks the file itself first: nothing is signalled
        refused = cli("reload", "-c", str(config))
        assert refused.returncode == 1 and "error[unknown-destination]" in refused.stderr

        # fix the route, change the map; replay warns that the engine has older rules
        configure()
        (maps / "tag.yaml").write_text(MAP.format(version="v2"))
        messages = cli("messages", "list", "-c", str(config), "--control-id", "C1", "--json")
        message_id = json.loads(messages.stdout.splitlines()[0])["id"]
        stale = cli("replay", message_id, "-c", str(config), "--resend", "--dry-run")
        assert stale.returncode == 0 and "changed since the engine loaded them" in stale.stderr
        reloaded = cli("reload", "-c", str(config))
        assert reloaded.returncode == 0, reloaded.stderr
        assert "reloaded" in reloaded.stdout

        # back-to-back replays: the second waits for the first instead of skipping it
        twice = cli("replay", message_id, message_id, "-c", str(config), "--resend")
        assert twice.returncode == 0, twice.stdout + twice.stderr
        assert "2 message(s) queued for replay" in twice.stdout
        assert "warning" not in twice.stderr  # the engine runs what is on disk
        wait_until(lambda: output(home, "C1") == "v2", log)
        shown = cli("messages", "show", message_id, "-c", str(config)).stdout
        assert shown.count("replayed by cli:") == 4  # 2 replays: history + attempts
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
    assert not (home / "engine.json").exists()
