"""``passerelle sandbox``: the local platform and DMP as a command, announced on start."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from engine.sandbox.dmp_endpoint import XDS_XSD
from tests.support.corpus import ABSENT

pytestmark = pytest.mark.slow


def sandbox(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sandbox_announces_its_servers_and_answers_fhir_reads(tmp_path: Path) -> None:
    if not XDS_XSD.is_file():
        pytest.skip(ABSENT)
    proc = sandbox("--fhir-port", "0", "--dmp-port", "0", "--home", str(tmp_path))
    try:
        assert proc.stdout is not None
        fhir_line, dmp_line = proc.stdout.readline(), proc.stdout.readline()
        fhir = re.search(r"FHIR platform  (http://127\.0\.0\.1:\d+/fhir)", fhir_line)
        assert fhir is not None, fhir_line
        assert re.search(r"DMP endpoint   https://localhost:\d+/repository", dmp_line)
        certificates = proc.stdout.readline()
        assert str(tmp_path / "client.crt") in certificates
        assert str(tmp_path / "cachet.crt") in certificates
        with urllib.request.urlopen(f"{fhir.group(1)}/Patient?identifier=100234") as answer:
            bundle = json.load(answer)
        assert bundle == {"resourceType": "Bundle", "type": "searchset", "entry": [], "total": 0}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_a_busy_port_is_one_line_naming_the_server_and_the_variable(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = sandbox("--fhir-port", str(port), "--home", str(tmp_path))
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err.strip().splitlines() == [
        f"passerelle: sandbox FHIR platform: cannot listen on 127.0.0.1:{port}:"
        " Address already in use; choose another port with SANDBOX_FHIR_PORT=..."
    ]
