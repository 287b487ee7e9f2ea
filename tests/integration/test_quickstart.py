"""The README quickstart, run as written against a real ``passerelle run --sandbox``.

The commands are read from the ``sh`` blocks of the README's Quickstart section and run
with a shell in the repository, with a fresh temporary home and free ports substituted
for the defaults. The ``# ...`` lines under a command are its expected output: each
piece between ``...`` must appear, in order. Asynchronous results (the Patient on the
platform, the DMP submission) are awaited by re-running the command until it shows them.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.formats.cda import check_header, read_cda
from engine.sandbox.dmp_endpoint import XDS_XSD
from tests.support.corpus import ABSENT
from tests.support.mllp import free_port

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@dataclass
class Command:
    line: str
    expected: list[str] = field(default_factory=list)


def quickstart() -> tuple[str, list[Command]]:
    """The Quickstart section's text and its shell commands with their expected output."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands: list[Command] = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for line in block.splitlines():
            if line.startswith("# ") and commands:
                commands[-1].expected.append(line[2:])
            elif line.strip() and not line.startswith("#"):
                commands.append(Command(line.split("  #")[0].strip()))
    return section, commands


def shows(output: str, expected: str) -> bool:
    """Every piece of ``expected`` between ``...`` appears in ``output``, in order."""
    at = 0
    for piece in (p for p in expected.split("...") if p):
        at = output.find(piece, at)
        if at < 0:
            return False
        at += len(piece)
    return True


def broken_sample(line: str) -> str:
    """The CDA sample a ``cp`` command drops, when the DMP destination would refuse it."""
    sample = shlex.split(line)[1]
    cda = read_cda((REPO / sample).read_bytes())
    findings = check_header(cda.header, cda.level)
    errors = [f for f in findings if f.severity == "error" and not f.rule.startswith("FR-INS")]
    return sample if errors else ""


@dataclass
class Bench:
    home: Path
    mllp: int
    fhir: int
    dmp: int
    log: Path

    def substitute(self, line: str) -> str:
        line = line.replace(".venv/bin/passerelle", f"{shlex.quote(sys.executable)} -m engine.cli")
        line = line.replace("127.0.0.1:2575", f"127.0.0.1:{self.mllp}")
        line = line.replace("127.0.0.1:8090", f"127.0.0.1:{self.fhir}")
        return re.sub(r"(?<![\w/.])var/", f"{self.home}/", line)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PASSERELLE_HOME": str(self.home),
            "MLLP_PORT": str(self.mllp),
            "SANDBOX_FHIR_PORT": str(self.fhir),
            "SANDBOX_DMP_PORT": str(self.dmp),
            "PYTHONUNBUFFERED": "1",
        }

    def shell(self, line: str) -> str:
        done = subprocess.run(
            ["bash", "-c", self.substitute(line)],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    def until(self, what: str, probe: Callable[[], str], check: Callable[[str], bool]) -> str:
        deadline = time.monotonic() + 90
        while True:
            output = probe()
            if check(output):
                return output
            if time.monotonic() > deadline:
                engine = self.log.read_text()
                raise AssertionError(f"{what} never showed:\n{output}\n--- engine ---\n{engine}")
            time.sleep(0.2)


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    if not XDS_XSD.is_file():
        pytest.skip(ABSENT)
    bench = Bench(tmp_path / "var", free_port(), free_port(), free_port(), tmp_path / "log")
    make = (REPO / "Makefile").read_text()
    run = re.search(r"^run:.*\n\t\$\(BIN\)/passerelle (.*)$", make, re.M)
    assert run is not None, "the Makefile has no run target"
    with bench.log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", *shlex.split(run.group(1))],
            cwd=REPO,
            env=bench.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        bench.until("the engine listening", bench.log.read_text, lambda t: "Engine started" in t)
        yield bench
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, bench.log.read_text()


def test_the_readme_quickstart_delivers_to_the_local_platform_and_dmp(bench: Bench) -> None:
    section, commands = quickstart()
    assert commands[0].line == "make run"
    # the first lines of the output announce the sandbox, and no warning blocks
    first = bench.log.read_text().splitlines()
    assert first[0].startswith(f"sandbox: FHIR platform  http://127.0.0.1:{bench.fhir}/fhir")
    assert first[1].startswith(f"sandbox: DMP endpoint   https://localhost:{bench.dmp}/")
    # (one expected WARNING: the console's first admin, whose password file it names)
    warnings = [line for line in first if "Warning" in line or "WARNING" in line]
    assert not [line for line in warnings if "Console: created the account" not in line]

    ran = 0
    for command in commands[1:]:
        if "<ID>" in command.line:
            continue
        if command.line.startswith("cp ") and broken_sample(command.line):
            pytest.xfail(f"{broken_sample(command.line)} breaks the French header rules")
        output = bench.until(
            command.line,
            lambda c=command: bench.shell(c.line),
            lambda out, c=command: all(shows(out, e) for e in c.expected),
        )
        ran += 1
        if command.line.startswith("curl"):
            assert '"resourceType":"Patient"' in output
            assert "HTTP Request" not in bench.log.read_text()  # no per-request INFO lines
    assert ran >= 5
    # what the README says the engine's output shows after the CDA drop
    for expected in re.findall(r"```text\n(\.\.\. .*?)```", section, re.S)[0].splitlines():
        bench.until(expected, bench.log.read_text, lambda t, e=expected: shows(t, e))
    # and, as the README says, the CDA's delivery reads dmp:sent in the store
    listed = bench.until(
        "dmp:sent in messages list",
        lambda: bench.shell(".venv/bin/passerelle messages list --channel cda_in"),
        lambda out: "dmp:sent" in out,
    )
    assert "cda_in" in listed
