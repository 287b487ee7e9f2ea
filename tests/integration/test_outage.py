"""The coordination platform goes down for a long outage while 1,000 messages for 50
patients arrive (real engine process, MLLP, FHIR platform, CLI).

The retry budget is deliberately small (3 attempts, backoff 50-200 ms: gone in well under
a second) and the outage lasts many times that, as a 10-minute outage does against the
default settings. Nothing may be dead-lettered, every patient's messages must reach the
platform in the order received, and the operator sees the open circuit with
``passerelle destinations`` and ``passerelle messages list``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.sandbox.fhir_platform import FhirPlatform
from tests.integration.test_fhir_crash_recovery import start
from tests.support.engine_process import wait_listening
from tests.support.fhir_bundles import adt, patient_key
from tests.support.mllp import MllpPeer, free_port, msa

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
PATIENTS, PER_PATIENT = 50, 20
OUTAGE = 4.0  # seconds: about 15 times the whole retry budget of a delivery

CONFIG = """\
version: 1
engine: {{home: {home}, workers: 4, shutdown_grace: 2s, poll_interval: 200ms}}
store: {{backend: sqlite, path: {home}/store.db}}
retry:
  max_attempts: 3
  initial_backoff: 50ms
  max_backoff: 200ms
  circuit: {{failures: 5, probe_interval: 200ms, max_probe_interval: 800ms}}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:{port}"}}
destinations:
  platform:
    type: fhir
    base_url: {base_url}
    timeout: 5s
    connect_timeout: 1s
    ordering: {{key: patient}}
routes:
  - {{name: adt, to: [platform]}}
"""


def cli(config: Path, *args: str) -> list[dict[str, object]]:
    out = subprocess.run(
        [sys.executable, "-m", "engine.cli", *args, "-c", str(config), "--json"],
        cwd=REPO,
        capture_output=True,
        check=True,
        env={**os.environ},
    ).stdout
    return [json.loads(line) for line in out.decode().splitlines()]


def counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state")
        return {str(state): int(n) for state, n in rows}


def dead_attempts(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM attempts WHERE outcome='dead'").fetchone()[0])


async def wait(condition: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``condition`` until true; generous deadline (1,000 FHIR transactions on a
    loaded machine), fail early with the log if the engine died."""
    deadline = time.monotonic() + 240
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"engine exited:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out:\n{log.read_text()[-3000:]}")
        await asyncio.sleep(0.1)


def message(i: int) -> tuple[str, str, str]:
    patient, n = i % PATIENTS, i // PATIENTS
    event = "A01" if n == 0 else ("A03" if n == PER_PATIENT - 1 else "A02")
    return f"M{patient}-{n:02d}", f"IPP{patient}", event


@pytest.mark.timeout(400)
async def test_a_long_platform_outage_dead_letters_nothing_and_keeps_order(
    tmp_path: Path,
) -> None:
    home, port, log = tmp_path / "home", free_port(), tmp_path / "engine.log"
    config, db = tmp_path / "routes.yaml", home / "store.db"
    messages = [message(i) for i in range(PATIENTS * PER_PATIENT)]
    with FhirPlatform() as platform:
        config.write_text(CONFIG.format(home=home, port=port, base_url=platform.base_url))
        proc = start(config, log)
        try:
            wait_listening(port, proc, log)
            async with MllpPeer("127.0.0.1", port) as peer:
                for n, (control_id, ipp, event) in enumerate(messages):
                    if n == 150:
                        platform.down()  # mid-stream: some patients are half delivered
                        down_at = time.monotonic()
                    assert msa(await peer.exchange(adt(control_id, ipp, event)))[1] == "AA"

            def circuit_open() -> bool:
                (row,) = cli(config, "destinations")
                return row["circuit"] == "open"

            await wait(circuit_open, proc, log)
            remaining = OUTAGE - (time.monotonic() - down_at)
            await asyncio.sleep(max(0.0, remaining))  # the outage goes on: probes fail

            (row,) = cli(config, "destinations")
            assert row["circuit"] in ("open", "half-open") and row["opens"] == 1
            assert row["last_error"], row
            listed = cli(config, "messages", "list", "--delivery-state", "retrying")
            assert listed and all(
                d["circuit"] in ("open", "half-open") for m in listed for d in m["deliveries"]
            )
            during = counts(db)
            assert during.get("dead", 0) == 0 and during.get("sent", 0) < len(messages)

            platform.up()
            await wait(lambda: counts(db) == {"sent": len(messages)}, proc, log)
            (row,) = cli(config, "destinations")
            assert row["circuit"] == "closed" and row["opens"] == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]

        assert dead_attempts(db) == 0
        for p in range(PATIENTS):
            expected = [f"Patient:IPP{p}"] + [f"Encounter:M{p}-{n:02d}" for n in range(PER_PATIENT)]
            assert platform.arrivals(patient_key(f"IPP{p}")) == expected
        with sqlite3.connect(db) as conn:
            failed = conn.execute(
                "SELECT count(*) FROM attempts WHERE outcome='retrying'"
            ).fetchone()[0]
        # an outage costs the failures that open the circuit plus one probe per interval,
        # not attempts per message: 1,000 messages * 3 attempts would be 3,000
        assert failed < 60, failed
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    opened = [x for x in lines if x["msg"].startswith("Destination failing; circuit opened")]
    assert len(opened) == 1
