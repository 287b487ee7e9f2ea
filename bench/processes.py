"""Start the engine and the baseline server as subprocesses; read their memory use."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ENGINE_CONFIG = """\
version: 1
engine: {{home: {home}, workers: 4, shutdown_grace: 5s}}
store: {{backend: sqlite, path: {home}/store.db}}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:{port}", max_connections: 64}}
destinations:
  {destination}
routes:
  - {{name: all, to: [out]}}
"""
FILE_DESTINATION = "out: {{type: file, directory: {home}/out}}"
MLLP_DESTINATION = 'out: {{type: mllp, address: "127.0.0.1:{sink}"}}'
REPO = Path(__file__).resolve().parents[1]
FHIR_ENGINE_CONFIG = """\
version: 1
engine: {{home: {home}, workers: 4, shutdown_grace: 2s, mappings: {mappings}}}
store: {{backend: sqlite, path: {home}/store.db}}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:{port}", max_connections: 64}}
destinations:
  out: {{type: fhir, base_url: "http://127.0.0.1:{sink}/fhir", mode: transaction, timeout: 30s}}
routes:
  - {{name: adt_to_fhir, map: pam_fr_adt_to_fr_core, validate: {validate}, to: [out]}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def start_engine(home: Path, port: int, sink: int | None = None) -> subprocess.Popen[bytes]:
    """The engine with one route to a file destination, or to the MLLP sink on ``sink``."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "routes.yaml"
    if sink is None:
        destination = FILE_DESTINATION.format(home=home)
    else:
        destination = MLLP_DESTINATION.format(sink=sink)
    config.write_text(ENGINE_CONFIG.format(home=home, port=port, destination=destination))
    return launch(config, port)


def start_fhir_engine(home: Path, port: int, sink: int, validate: bool) -> subprocess.Popen[bytes]:
    """The engine mapping every message to FR Core and POSTing it to the FHIR sink on ``sink``."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "routes.yaml"
    text = FHIR_ENGINE_CONFIG.format(
        home=home,
        port=port,
        sink=sink,
        mappings=REPO / "mappings",
        validate="true" if validate else "false",
    )
    config.write_text(text)
    return launch(config, port)


def launch(config: Path, port: int) -> subprocess.Popen[bytes]:
    log = (config.parent / "engine.log").open("ab")
    cmd = [sys.executable, "-m", "engine.cli", "--log-level", "WARNING", "run", "-c", str(config)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=dict(os.environ))
    wait_port(port, proc)
    return proc


def start_baseline(home: Path, port: int) -> subprocess.Popen[bytes]:
    home.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "bench.baseline", str(port), str(home / "baseline.db")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc


def start_sink(port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "bench.sink", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc


def start_fhir_sink(port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "bench.fhir_sink", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB, from /proc."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


__all__ = [
    "free_port",
    "launch",
    "rss_mb",
    "start_baseline",
    "start_engine",
    "start_fhir_engine",
    "start_fhir_sink",
    "start_sink",
    "stop",
    "wait_port",
]
