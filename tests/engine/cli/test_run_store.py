"""``passerelle run`` and its store: one engine per store, private files under any umask."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from engine.cli import main
from tests.support.engine_process import wait_listening
from tests.support.mllp import free_port

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "samples" / "hl7v2" / "adt_a01_admission.hl7"


def start(config: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``passerelle run`` started the way a shell with umask 022 would start it."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "run", "-c", str(config)],
            stdout=out, stderr=out, env={**os.environ, **env},
            preexec_fn=lambda: os.umask(0o022),
        )  # fmt: skip


def test_a_second_engine_exits_naming_the_first_and_every_file_is_private(
    tmp_path: Path,
) -> None:
    home, port = tmp_path / "var", free_port()
    config = tmp_path / "routes.yaml"
    config.write_text((REPO / "routes.yaml").read_text())  # the shipped defaults
    env = {"PASSERELLE_HOME": str(home), "MLLP_PORT": str(port)}
    # the shipped defaults name the sandbox certificates: `check --sandbox` writes them
    made = subprocess.run(
        [sys.executable, "-m", "engine.cli", "check", "--sandbox", "-c", str(config)],
        env={**os.environ, **env}, capture_output=True, preexec_fn=lambda: os.umask(0o022),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr.decode()
    first = start(config, tmp_path / "first.log", env)
    try:
        wait_listening(port, first, tmp_path / "first.log")
        # Given the engine running, When a second one starts on the same store
        second = start(config, tmp_path / "second.log", env)
        assert second.wait(timeout=60) == 1
        said = (tmp_path / "second.log").read_text()
        # Then it exits with a message naming the first process
        assert f"another engine is running on the store {home / 'store.db'}" in said
        assert f"pid {first.pid} on " in said
        sent = CliRunner().invoke(main, ["send", str(SAMPLE), "--to", f"mllp://127.0.0.1:{port}"])
        assert sent.exit_code == 0 and "MSA|AA|" in sent.output, sent.output
        deadline = time.monotonic() + 30
        while not any(p.suffix == ".hl7" for p in home.rglob("*")):
            assert time.monotonic() < deadline, "the message was not delivered to a file"
            time.sleep(0.05)
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
    # and everything the engine created is its owner's only, although the umask was 022
    sandbox = home / "sandbox"  # written by `check --sandbox`: public certificates are 0644
    created = [p for p in (home, *home.rglob("*")) if sandbox not in (p, *p.parents)]
    assert {"store.db", "store.db.lock"} <= {p.name for p in created}
    for path in created:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"
