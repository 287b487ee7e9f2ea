"""SIGKILL of the engine while it delivers to a FHIR platform (real processes and sockets).

Every acknowledged message must reach the platform after the restart, in per-patient order,
and the platform must hold no duplicate: the redelivered Bundles are conditional updates,
which a FHIR server applies as no-ops (no new resource, no new version).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.sandbox.fhir_platform import FhirPlatform
from tests.support.engine_process import wait_listening
from tests.support.fhir_bundles import adt, patient_key
from tests.support.mllp import MllpPeer, free_port, msa

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
PATIENTS, EVENTS = 10, ("A01", "A02", "A02", "A02", "A02", "A03")

CONFIG = """\
version: 1
engine: {{home: {home}, workers: 4, shutdown_grace: 2s}}
store: {{backend: sqlite, path: {home}/store.db}}
retry: {{max_attempts: 50, initial_backoff: 50ms, max_backoff: 200ms}}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:{port}"}}
destinations:
  platform:
    type: fhir
    base_url: {base_url}
    timeout: 5s
    ordering: {{key: patient}}
routes:
  - {{name: adt, to: [platform]}}
"""


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.support.fhir_engine_main", str(config)],
            cwd=REPO,
            stdout=out,
            stderr=out,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def states(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT state FROM deliveries")]


async def wait(condition: object, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while not condition():  # type: ignore[operator]
        if proc.poll() is not None:
            raise AssertionError(f"engine exited:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out:\n{log.read_text()[-3000:]}")
        await asyncio.sleep(0.02)


async def test_sigkill_during_deliveries_loses_nothing_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    home, port, log = tmp_path / "home", free_port(), tmp_path / "engine.log"
    with FhirPlatform() as platform:
        platform.delay = 0.02  # deliveries take a while: the kill lands in the middle
        config = tmp_path / "routes.yaml"
        config.write_text(CONFIG.format(home=home, port=port, base_url=platform.base_url))
        messages = [
            (f"P{p}-{i}", f"IPP{p}", event)
            for i, event in enumerate(EVENTS)
            for p in range(PATIENTS)
        ]
        proc = start(config, log)
        wait_listening(port, proc, log)
        async with MllpPeer("127.0.0.1", port) as peer:
            for control_id, ipp, event in messages:
                assert msa(await peer.exchange(adt(control_id, ipp, event)))[1] == "AA"
        db = home / "store.db"
        await wait(lambda: states(db).count("sent") >= 10, proc, log)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert states(db).count("sent") < len(messages), "killed too late to test anything"

        proc = start(config, log)
        try:
            wait_listening(port, proc, log)
            await wait(lambda: states(db) == ["sent"] * len(messages), proc, log)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0, log.read_text()[-3000:]

        encounters = platform.resources("Encounter")
        movements = sorted(e["identifier"][0]["value"] for e in encounters)
        assert movements == sorted(c for c, _, _ in messages)  # all there, once each
        assert {e["meta"]["versionId"] for e in encounters} == {"1"}  # redeliveries: no-ops
        assert len(platform.resources("Patient")) == PATIENTS
        for p in range(PATIENTS):
            expected = [f"Patient:IPP{p}"] + [f"Encounter:P{p}-{i}" for i in range(len(EVENTS))]
            assert platform.arrivals(patient_key(f"IPP{p}")) == expected
