"""The ``passerelle`` command line, run as a user would."""

from __future__ import annotations

import asyncio
import json
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.sandbox.local import sandbox_pki
from engine.store.sqlite import SqliteStore
from tests.support.engine_process import start_engine, wait_listening
from tests.support.mllp import free_port

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "samples" / "hl7v2"

BAD = """\
version: 1
channels:
  mllp_in:
    type: mllp
    listen: 127.0.0.1:2575
    colour: blue
destinations:
  archive:
    type: file
    directory: ./out
routes:
  - name: adt
    when: {message_type: ADT}
    to: [archve]
  - name: oru
    from: [mllp_inn]
    to: [archive]
    drop: yes please
"""


def test_check_lists_every_error_with_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(BAD)
    result = CliRunner().invoke(main, ["check", "-c", str(config)])
    assert result.exit_code == 1
    out = result.output
    assert f"{config}:6:5: error[unknown-key] unknown key 'colour'" in out
    assert f"{config}:14:10: error[unknown-destination] route 'adt' sends to 'archve'" in out
    assert "(did you mean 'archive'?)" in out
    assert f"{config}:16:12: error[unknown-channel]" in out
    assert f"{config}:18:11: error[invalid-value]" in out  # wrong type: not a boolean
    assert "4 errors" in out


def test_check_accepts_the_repository_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSERELLE_HOME", str(tmp_path))
    config = str(REPO / "routes.yaml")
    # a fresh home: the sandbox certificates the DMP destination names do not exist yet
    fresh = CliRunner().invoke(main, ["check", "-c", config])
    assert fresh.exit_code == 1
    assert "does not exist; run `passerelle sandbox` (or `make run`) once" in fresh.output
    result = CliRunner().invoke(main, ["check", "--sandbox", "-c", config])
    assert result.exit_code == 0, result.output
    assert "0 errors, 0 warnings" in result.output


def test_committed_schema_matches_the_config_models(tmp_path: Path) -> None:
    # A fresh process: other tests register test-only channel types in this one.
    subprocess.run(
        [sys.executable, "-m", "engine.cli", "schema", "--out", str(tmp_path)], check=True
    )
    generated = (tmp_path / "routes.schema.json").read_text()
    committed = (REPO / "schemas" / "routes.schema.json").read_text()
    assert generated == committed, "schemas/ is stale: run `make schemas`"


def test_certs_writes_a_private_development_pki(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["certs", "--out", str(tmp_path / "pki")])
    assert result.exit_code == 0, result.output
    for name in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key"):
        assert (tmp_path / "pki" / name).is_file()
    assert stat.S_IMODE((tmp_path / "pki" / "server.key").stat().st_mode) == 0o600


@pytest.fixture(scope="module")
def running_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    home = tmp_path_factory.mktemp("engine")
    port = free_port()
    config = home / "routes.yaml"
    config.write_text(
        (REPO / "routes.yaml").read_text()  # the shipped defaults, with a private home
    )
    sandbox_pki(home / "var" / "sandbox")  # the DMP's certificates; the sandbox is not running
    env = {
        "PASSERELLE_HOME": str(home / "var"),
        "MLLP_PORT": str(port),
        "SANDBOX_FHIR_PORT": str(free_port()),
        "SANDBOX_DMP_PORT": str(free_port()),
    }
    proc = start_engine(config, home / "engine.log", env)
    wait_listening(port, proc, home / "engine.log")
    yield config, port
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def test_send_prints_acks_then_messages_list_and_show_find_them(
    running_engine: tuple[Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, port = running_engine
    home = config.parent / "var"
    monkeypatch.setenv("PASSERELLE_HOME", str(home))
    runner = CliRunner()
    files = [str(SAMPLES / "adt_a01_admission.hl7"), str(SAMPLES / "adt_a03_discharge.hl7")]
    sent = runner.invoke(main, ["send", *files, "--to", f"mllp://127.0.0.1:{port}"])
    assert sent.exit_code == 0, sent.output
    assert "MSA|AA|ADT20261120093000001" in sent.output
    assert "MSA|AA|ADT20261124110000004" in sent.output

    listed = runner.invoke(main, ["messages", "list", "-c", str(config), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    by_control = {r["control_id"]: r for r in rows}
    admission = by_control["ADT20261120093000001"]
    assert admission["type"] == "ADT^A01" and admission["channel"] == "mllp_in"

    shown = runner.invoke(main, ["messages", "show", admission["id"], "-c", str(config)])
    assert shown.exit_code == 0, shown.output
    assert f"Message      {admission['id']}" in shown.output
    assert "received → processing" in shown.output
    assert "archive (route hl7_to_archive)" in shown.output
    assert "LEGRAND" not in shown.output  # no patient data unless --raw is asked for


def test_send_to_a_closed_port_exits_2() -> None:
    result = CliRunner().invoke(
        main,
        ["send", str(SAMPLES / "adt_a01_admission.hl7"), "--to", f"mllp://127.0.0.1:{free_port()}"],
    )
    assert result.exit_code == 2
    assert "(connection refused): is the engine running?" in result.output


def test_show_unknown_message_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(f"version: 1\nengine: {{home: {tmp_path}}}\n")
    asyncio.run(_create_store(tmp_path / "store.db"))
    result = CliRunner().invoke(main, ["messages", "show", "NOPE", "-c", str(config)])
    assert result.exit_code == 1
    assert "no message NOPE" in result.output


async def _create_store(path: Path) -> None:
    store = SqliteStore(path)
    await store.open()
    await store.close()
