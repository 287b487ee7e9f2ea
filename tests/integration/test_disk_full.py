"""A full disk under the store (a real size-limited tmpfs, real ENOSPC/SQLITE_FULL):
senders get AR with ERR 207, the log stays quiet (a few lines, not thousands), nothing
acknowledged is lost, and intake resumes by itself once space is freed."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.test_alerts import recorder
from tests.support.engine_process import start_engine, wait_listening
from tests.support.mllp import MllpPeer, adt, free_port, msa

pytestmark = pytest.mark.slow

CONFIG = """\
version: 1
engine: {{home: {home}, shutdown_grace: 2s, poll_interval: 200ms, alert_command: [{alert}]}}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:{port}"}}
destinations:
  out: {{type: file, directory: {out}, fsync: false}}
routes:
  - {{name: all, to: [out]}}
"""
NOTE = "NTE|1||" + "x" * 4000  # 4 KB per message: the WAL has to grow


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 3 MiB tmpfs mounted for the test (needs root: mount(2)), outside pytest's base
    temporary directory so that no clean-up of old test directories walks into it."""
    mountpoint = Path(tempfile.mkdtemp(prefix="passerelle-full-disk-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs (needs root): {done.stderr.strip()}"
        mountpoint.rmdir()
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=False)
        with contextlib.suppress(OSError):  # still mounted if umount failed: leave it
            mountpoint.rmdir()


def fill(directory: Path) -> Path:
    """Write a file until the filesystem has no space left; return it."""
    filler = directory / "filler"
    usage = shutil.disk_usage(directory)
    assert usage.free > 1 << 20, f"the store took the disk before the test filled it: {usage}"
    chunk = b"\0" * 65536
    try:
        with filler.open("wb") as out:  # closing flushes too: it may be the write that fails
            while True:
                out.write(chunk)
                out.flush()
    except OSError as exc:
        assert exc.errno == 28, exc  # ENOSPC
    return filler


def err_codes(ack: bytes) -> list[str]:
    return [
        s.split(b"|")[3].decode().split("^")[0]
        for s in ack.split(b"\r")
        if s.startswith(b"ERR") and len(s.split(b"|")) > 3
    ]


def log_lines(log: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]


async def test_full_disk_refuses_with_ar_207_quietly_and_recovers_without_restart(
    tmp_path: Path, small_disk: Path
) -> None:
    home, out, port = small_disk / "home", tmp_path / "out", free_port()
    config, log = tmp_path / "routes.yaml", tmp_path / "engine.log"
    script, alerts = recorder(tmp_path)  # off the full disk
    config.write_text(CONFIG.format(home=home, out=out, port=port, alert=script))
    proc = start_engine(config, log)
    acked: list[str] = []
    try:
        wait_listening(port, proc, log)
        async with MllpPeer("127.0.0.1", port) as peer:
            for i in range(5):
                assert msa(await peer.exchange(adt(f"OK{i}") + NOTE.encode() + b"\r"))[1] == "AA"
                acked.append(f"OK{i}")
            filler = fill(small_disk)
            full_from = len(log_lines(log))
            refused = 0
            started = time.monotonic()
            for i in range(300):
                ack = await peer.exchange(adt(f"F{i}") + NOTE.encode() + b"\r", timeout=30)
                code = msa(ack)[1]
                if code == "AA":
                    acked.append(f"F{i}")  # the WAL still had room: stored, acknowledged
                else:
                    assert code == "AR" and err_codes(ack) == ["207"], ack
                    refused += 1
            elapsed = time.monotonic() - started
            assert refused >= 250, refused
            during = log_lines(log)[full_from:]
            loud = [x for x in during if x["level"] in ("warning", "error", "critical")]
            # a few lines per minute, not one per message: 1 per kind per minute
            assert len(loud) <= 8 * (1 + elapsed / 60), [x["msg"] for x in loud]
            full = [x for x in loud if str(x["msg"]).startswith("Store full")]
            assert len(full) == 1

            filler.unlink()  # space again: no restart
            ack = await peer.exchange(adt("BACK") + NOTE.encode() + b"\r", timeout=30)
            assert msa(ack)[1] == "AA", ack
            acked.append("BACK")
        assert any(str(x["msg"]).startswith("Store writable again") for x in log_lines(log))
        wait_for_alerts = time.monotonic() + 30
        while alerts.exists() is False or len(alerts.read_text().splitlines()) < 2:
            assert time.monotonic() < wait_for_alerts, "the alert command did not run twice"
            time.sleep(0.05)
        events = [json.loads(x)["argv"] for x in alerts.read_text().splitlines()]
        assert events == ["store.full", "store.full.resolved"]
        deadline = time.monotonic() + 60
        names = {f"GAM_CHU-EXEMPLE_{c}.hl7" for c in acked}
        while not names <= {p.name for p in out.iterdir()} if out.exists() else True:
            assert time.monotonic() < deadline, "acknowledged messages were not delivered"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
