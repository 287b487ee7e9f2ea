"""The patient index end to end: the engine indexes what it routes, ``messages list
--patient/--nda/--ins`` finds it with the same key; the generated key file is private;
read-only commands need no secret of the configuration and never create a store."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from click.testing import CliRunner, Result

from engine.cli import main
from engine.cli.common import HOME_ENV, STORE_ENV
from engine.message import HL7V2, MessageState
from engine.store.base import MessageQuery
from tests.engine.test_engine import wait_for
from tests.support.adt_messages import ELODIE, FRANCOIS, adt
from tests.support.engines import running_engine


def routes(home: Path, store: str = "") -> str:
    return f"""\
version: 1
engine: {{home: {home}, shutdown_grace: 2s}}
store: {{{store}}}
channels:
  adt_in: {{type: mllp, listen: "127.0.0.1:0"}}
destinations:
  out: {{type: file, directory: {home}/out}}
  platform:
    type: fhir
    base_url: https://platform.invalid/fhir
    auth:
      token_url: https://platform.invalid/token
      client_id: chu
      client_secret: ${{PLATFORM_TOKEN}}
routes:
  - {{name: all, to: [out]}}
  - {{name: results, when: {{message_type: ORU}}, to: [platform]}}
"""


def invoke(*args: str) -> Result:
    """Run the CLI; the global options' variables are restored after it."""
    return CliRunner().invoke(main, list(args), env={HOME_ENV: None, STORE_ENV: None})


async def fill(home: Path, text: str, env: dict[str, str]) -> list[str]:
    async with running_engine(text, env=env) as engine:
        ids = []
        for n, person in enumerate((ELODIE, FRANCOIS, ELODIE)):
            raw = adt("A01", n, at="202611201000", person=person)
            ids.append((await engine.accept("adt_in", raw, HL7V2, {})).id)

        async def done() -> bool:
            found = await engine.store.list_messages(MessageQuery(state=MessageState.ROUTED))
            return len(found) == 3

        await wait_for(done, timeout=10)
        return ids


async def test_generated_key_indexes_and_the_cli_finds_by_ipp_nda_and_ins(tmp_path: Path) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(routes(tmp_path))
    ids = await fill(tmp_path, config.read_text(), {"PLATFORM_TOKEN": "t0ken"})
    key = tmp_path / "patient-index.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_text().strip()) == 64
    # the platform token is not set here: a read-only command does not need it
    for option, value in (
        ("--patient", ELODIE.ipp),
        ("--ins", ELODIE.ins),
        ("--nda", f"{ELODIE.ipp}-V1"),
    ):
        found = await asyncio.to_thread(
            invoke, "messages", "list", "-c", str(config), option, value
        )
        assert found.exit_code == 0, found.output
        listed = [line.split()[0] for line in found.output.splitlines()[1:]]
        assert listed == [ids[2], ids[0]], option
        assert "t0ken" not in found.output and "PLATFORM_TOKEN" not in found.output
    other = await asyncio.to_thread(
        invoke, "messages", "list", "-c", str(config), "--ipp", FRANCOIS.ipp.lower()
    )
    assert [line.split()[0] for line in other.output.splitlines()[1:]] == [ids[1]]
    shown = await asyncio.to_thread(invoke, "destinations", "-c", str(config))
    assert shown.exit_code == 0 and "platform" in shown.output, shown.output
    audited = await asyncio.to_thread(invoke, "audit", "-c", str(config), "--json")
    assert audited.exit_code == 0, audited.output
    assert audited.output.count('"message.search"') == 4
    assert ELODIE.ipp not in audited.output and ELODIE.ins not in audited.output


async def test_configured_secret_from_the_environment(tmp_path: Path) -> None:
    text = routes(tmp_path, "patient_index: {secret: '${PATIENT_KEY}'}")
    config = tmp_path / "routes.yaml"
    config.write_text(text)
    ids = await fill(tmp_path, text, {"PATIENT_KEY": "s3cret", "PLATFORM_TOKEN": "x"})
    assert not (tmp_path / "patient-index.key").exists()
    missing = await asyncio.to_thread(
        invoke, "messages", "list", "-c", str(config), "--ipp", FRANCOIS.ipp
    )
    assert missing.exit_code == 1 and "patient search needs" in missing.output
    assert "s3cret" not in missing.output
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["messages", "list", "-c", str(config), "--ipp", FRANCOIS.ipp],
        env={"PATIENT_KEY": "s3cret"},
    )
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()[1:]] == [ids[1]]


async def test_home_and_store_options_and_no_store_is_ever_created(tmp_path: Path) -> None:
    home = tmp_path / "engine-home"
    config = tmp_path / "routes.yaml"
    config.write_text(routes(home))
    ids = await fill(home, config.read_text(), {"PLATFORM_TOKEN": "x"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    moved = elsewhere / "routes.yaml"
    moved.write_text(routes(Path("./var")))
    # the configuration names another home: no store there, a clear error, nothing created
    absent = await asyncio.to_thread(invoke, "messages", "list", "-c", str(moved))
    assert absent.exit_code == 1 and "no store at var/store.db" in absent.output
    assert not (Path("var") / "store.db").exists() or Path("var/store.db").resolve() != (
        elsewhere / "var/store.db"
    )
    with_home = await asyncio.to_thread(
        invoke, "--home", str(home), "messages", "list", "-c", str(moved)
    )
    assert with_home.exit_code == 0, with_home.output
    assert len(with_home.output.splitlines()) == 4
    # --store alone, without any configuration file
    no_config = await asyncio.to_thread(
        invoke, "--store", str(home / "store.db"), "messages", "show", ids[0], "-c", "nope.yaml"
    )
    assert no_config.exit_code == 0, no_config.output
    assert f"Message      {ids[0]}" in no_config.output
    gone = await asyncio.to_thread(
        invoke, "--store", str(tmp_path / "none.db"), "messages", "list", "-c", "nope.yaml"
    )
    assert gone.exit_code == 1 and "no store at" in gone.output
    assert not (tmp_path / "none.db").exists()
    # patient search with --home uses the key file of that home
    found = await asyncio.to_thread(
        invoke, "--home", str(home), "messages", "list", "-c", str(moved), "--ipp", ELODIE.ipp
    )
    assert found.exit_code == 0, found.output
    assert [line.split()[0] for line in found.output.splitlines()[1:]] == [ids[2], ids[0]]
