"""Operator controls on a running engine: a paused destination's deliveries wait without
spending attempts; a stopped channel's port refuses connections; both survive a restart
and are given from the command line (another "process" on the same store)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner, Result

from engine.app import Engine
from engine.cli import main
from engine.message import DeliveryState, MessageState
from engine.store.base import MessageQuery
from engine.store.console import AuditQuery
from tests.engine.test_engine import wait_for
from tests.support.engines import mllp_port, running_engine
from tests.support.mllp import MllpPeer, adt, msa


def routes(tmp_path: Path) -> str:
    return f"""\
version: 1
engine: {{home: {tmp_path}, shutdown_grace: 2s, poll_interval: 100ms}}
channels:
  adt_in: {{type: mllp, listen: "127.0.0.1:0"}}
destinations:
  out: {{type: file, directory: {tmp_path}/out}}
routes:
  - {{name: all, to: [out]}}
"""


def cli(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, [*args, "-c", str(config)])
    assert result.exit_code == 0, result.output
    return result


def files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "out").glob("*.hl7"))


async def send(port: int, control_id: str) -> list[str]:
    async with MllpPeer("127.0.0.1", port) as peer:
        return msa(await peer.exchange(adt(control_id)))


async def refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def routed(engine: Engine, count: int) -> bool:
    found = await engine.store.list_messages(MessageQuery(state=MessageState.ROUTED))
    return len(found) == count


async def test_a_paused_destination_gets_nothing_until_resumed_and_spends_no_attempt(
    tmp_path: Path,
) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(routes(tmp_path))
    async with running_engine(config.read_text()) as engine:
        port = mllp_port(engine)
        # Given the destination paused from the command line (the engine polls the store)
        await asyncio.to_thread(cli, config, "destinations", "pause", "out")
        await wait_for(lambda: _paused(engine, "out"), timeout=10)
        # When messages arrive
        for n in range(3):
            assert (await send(port, f"P{n}"))[1] == "AA"
        await wait_for(lambda: routed(engine, 3), timeout=10)
        await asyncio.sleep(0.5)  # several store polls offer the deliveries again
        # Then nothing is sent and no attempt is spent
        assert files(tmp_path) == []
        counts = (await engine.store.delivery_counts()).get("out", {})
        assert counts.get(DeliveryState.PENDING) == 3
        messages = await engine.store.list_messages(MessageQuery())
        deliveries = [d for m in messages for d in await engine.store.deliveries(m.envelope.id)]
        assert [d.attempts for d in deliveries] == [0, 0, 0]
        shown = await asyncio.to_thread(cli, config, "destinations")
        assert shown.output.splitlines()[1].split()[:2] == ["out", "paused"]
        # When it is resumed, everything goes, one attempt each
        await asyncio.to_thread(cli, config, "destinations", "resume", "out")
        await wait_for(lambda: _sent(engine, 3), timeout=10)
        assert len(files(tmp_path)) == 3
        for m in messages:
            assert [d.attempts for d in await engine.store.deliveries(m.envelope.id)] == [1]
        actions = [e.action for e in await engine.store.audit_entries(AuditQuery())]
        assert actions == ["destination.resume", "destination.pause"]
        entry = (await engine.store.audit_entries(AuditQuery()))[0]
        assert entry.actor.startswith("cli:") and entry.object == "out" and entry.client == "cli"


async def test_a_stopped_channel_refuses_connections_until_started_even_after_a_restart(
    tmp_path: Path,
) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(routes(tmp_path))
    async with running_engine(config.read_text()) as engine:
        port = mllp_port(engine)
        assert (await send(port, "S0"))[1] == "AA"
        await asyncio.to_thread(cli, config, "channels", "stop", "adt_in")
        await wait_for(lambda: _state(engine, "stopped"), timeout=10)
        assert await refused(port)
        await engine.controls.write_heartbeat()
        (node,) = await engine.store.node_statuses()
        assert node.channels == {"adt_in": "stopped"}
        listed = await asyncio.to_thread(cli, config, "channels")
        assert listed.output.splitlines()[1].split() == ["adt_in", "stopped", "stopped"]
        await wait_for(lambda: _sent(engine, 1), timeout=10)
    # while no engine runs, the destination is paused too
    await asyncio.to_thread(cli, config, "destinations", "pause", "out")
    # a restarted engine leaves the channel stopped and the destination paused
    async with running_engine(config.read_text()) as engine:
        assert engine.channel_states() == {"adt_in": "stopped"}
        assert engine.pipeline.paused == {"out"}
        assert await refused(port)
        await asyncio.to_thread(cli, config, "channels", "start", "adt_in")
        await wait_for(lambda: _state(engine, "listening"), timeout=10)
        new_port = mllp_port(engine)
        assert (await send(new_port, "S1"))[1] == "AA"
        await wait_for(lambda: routed(engine, 2), timeout=10)
        assert len(files(tmp_path)) == 1
        await asyncio.to_thread(cli, config, "destinations", "resume", "out")
        await wait_for(lambda: _sent(engine, 2), timeout=10)


async def test_stop_and_start_in_one_engine_keep_the_port(tmp_path: Path) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(routes(tmp_path))
    async with running_engine(config.read_text()) as engine:
        port = mllp_port(engine)
        await asyncio.to_thread(cli, config, "channels", "stop", "adt_in")
        await engine.apply_controls()  # the console in the engine's process does this
        assert await refused(port)
        await asyncio.to_thread(cli, config, "channels", "start", "adt_in")
        await engine.apply_controls()
        assert engine.channel_states() == {"adt_in": "listening"}
        assert mllp_port(engine) == port
        assert (await send(port, "K1"))[1] == "AA"


def test_unknown_names_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(routes(tmp_path))
    result = CliRunner().invoke(main, ["destinations", "pause", "nope", "-c", str(config)])
    assert result.exit_code == 1 and "no destination 'nope'" in result.output
    result = CliRunner().invoke(main, ["channels", "stop", "out", "-c", str(config)])
    assert result.exit_code == 1 and "no channel 'out'" in result.output


async def _paused(engine: Engine, name: str) -> bool:
    return name in engine.pipeline.paused


async def _state(engine: Engine, state: str) -> bool:
    return engine.channel_states() == {"adt_in": state}


async def _sent(engine: Engine, count: int) -> bool:
    counts = (await engine.store.delivery_counts()).get("out", {})
    return counts.get(DeliveryState.SENT, 0) == count


async def test_the_runtime_reloads_the_file_and_reports_a_refusal(tmp_path: Path) -> None:
    from engine.assembly import build_engine
    from engine.config.loader import load_config
    from engine.errors import ConfigError

    config = tmp_path / "routes.yaml"
    config.write_text(routes(tmp_path))
    engine = build_engine(load_config(config), source=config)
    await engine.start()
    try:
        assert await engine.controls.reload() == "routes.yaml reloaded (sequence 1)"
        config.write_text(routes(tmp_path).replace("to: [out]", "to: [nowhere]"))
        try:
            await engine.controls.reload()
        except ConfigError as exc:
            assert "reload refused" in str(exc) and "nowhere" in str(exc)
        else:
            raise AssertionError("an invalid file was applied")
    finally:
        await engine.stop()


async def test_a_stopped_directory_channel_takes_no_file_until_started(tmp_path: Path) -> None:
    from tests.engine.formats.cda.builders import cda

    inbox = tmp_path / "in"
    text = f"""\
version: 1
engine: {{home: {tmp_path}, shutdown_grace: 2s}}
channels:
  docs_in: {{type: directory, directory: {inbox}, poll_interval: 50ms, min_age: 0s}}
destinations:
  out: {{type: file, directory: {tmp_path}/out}}
routes:
  - {{name: all, to: [out]}}
"""
    config = tmp_path / "routes.yaml"
    config.write_text(text)
    async with running_engine(text) as engine:
        await asyncio.to_thread(cli, config, "channels", "stop", "docs_in")
        await engine.apply_controls()
        assert engine.channel_states() == {"docs_in": "stopped"}
        (inbox / "doc.xml").write_bytes(cda())
        await asyncio.sleep(0.3)  # several scan intervals
        assert (inbox / "doc.xml").exists()
        assert await engine.store.list_messages(MessageQuery()) == []
        await asyncio.to_thread(cli, config, "channels", "start", "docs_in")
        await engine.apply_controls()
        assert engine.channel_states() == {"docs_in": "listening"}

        async def taken() -> bool:
            return len(await engine.store.list_messages(MessageQuery())) == 1

        await wait_for(taken, timeout=10)
        assert not (inbox / "doc.xml").exists()


async def test_a_channel_that_cannot_listen_again_is_failed_and_retried(tmp_path: Path) -> None:
    import socket

    config = tmp_path / "routes.yaml"
    config.write_text(routes(tmp_path))
    async with running_engine(config.read_text()) as engine:
        port = mllp_port(engine)
        await asyncio.to_thread(cli, config, "channels", "stop", "adt_in")
        await engine.apply_controls()
        with socket.socket() as squatter:  # another program took the port meanwhile
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            await asyncio.to_thread(cli, config, "channels", "start", "adt_in")
            await engine.apply_controls()
            assert engine.channel_states() == {"adt_in": "failed"}
        await wait_for(lambda: _state(engine, "listening"), timeout=10)  # the next poll
        assert (await send(port, "F1"))[1] == "AA"
