"""``passerelle replay`` and ``passerelle release`` against a store (no engine running)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner, Result

from engine.cli import main
from engine.message import HL7V2, DeliveryState, Envelope, MessageState
from engine.store.base import RoutingOutcome
from engine.store.sqlite import SqliteStore


async def routed(store: SqliteStore, channel: str, state: DeliveryState) -> Envelope:
    env = Envelope.new(channel=channel, raw=b"MSH|x", content_type=HL7V2)
    await store.accept(env)
    await store.start_processing(env.id)
    outcome = RoutingOutcome(MessageState.ROUTED, "r", [("platform", "r")], {"platform": "K"})
    (d,) = await store.finish_routing(env.id, outcome)
    await store.record_attempt(d.id, state, "refused: HTTP 400" if state.finished else "")
    return env


async def setup(tmp_path: Path) -> tuple[Path, list[Envelope]]:
    config = tmp_path / "routes.yaml"
    config.write_text(f"version: 1\nstore: {{path: {tmp_path / 'store.db'}}}\n")
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    try:
        envs = [
            await routed(store, "mllp_in", DeliveryState.DEAD),
            await routed(store, "mllp_in", DeliveryState.SENT),
            await routed(store, "other", DeliveryState.DEAD),
        ]
    finally:
        await store.close()
    return config, envs


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "-c", str(config)])


async def states(tmp_path: Path, envs: list[Envelope]) -> list[MessageState]:
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    try:
        return [(await store.get_message(e.id)).state for e in envs]
    finally:
        await store.close()


async def test_replay_needs_ids_or_a_filter_and_dry_run_changes_nothing(tmp_path: Path) -> None:
    config, envs = await setup(tmp_path)
    refused = await asyncio.to_thread(run, config, "replay")
    assert refused.exit_code == 2 and "at least one filter" in refused.output
    dry = await asyncio.to_thread(
        run, config, "replay", "--destination", "platform", "--dead", "--dry-run"
    )
    assert dry.exit_code == 0, dry.output
    assert f"{envs[0].id}  would replay: routed → received" in dry.output
    assert envs[1].id not in dry.output
    assert "2 message(s) selected; nothing changed" in dry.output
    assert await states(tmp_path, envs) == [MessageState.ROUTED] * 3


async def test_every_dead_letter_of_a_destination_or_a_filter(tmp_path: Path) -> None:
    config, envs = await setup(tmp_path)
    one_channel = await asyncio.to_thread(
        run, config, "replay", "--channel", "other", "--state", "routed"
    )
    assert one_channel.exit_code == 0, one_channel.output
    assert f"{envs[2].id}  replayed: routed → received" in one_channel.output
    dead = await asyncio.to_thread(run, config, "replay", "--destination", "platform", "--dead")
    assert dead.exit_code == 0, dead.output
    assert f"{envs[0].id}  replayed: routed → received" in dead.output
    assert f"{envs[2].id}  skipped: still in progress (received)" in dead.output
    assert (
        "1 message(s) queued for replay, 1 skipped; a running engine picks them up" in dead.output
    )
    assert await states(tmp_path, envs) == [
        MessageState.RECEIVED,
        MessageState.ROUTED,
        MessageState.RECEIVED,
    ]


async def test_replay_of_an_unknown_id_exits_1(tmp_path: Path) -> None:
    config, envs = await setup(tmp_path)
    result = await asyncio.to_thread(run, config, "replay", envs[1].id, "NOPE")
    assert result.exit_code == 1
    assert f"{envs[1].id}  replayed: routed → received" in result.output
    assert "NOPE  skipped: no such message" in result.output


async def test_release_a_dead_letter_and_refuse_a_message_without_one(tmp_path: Path) -> None:
    config, envs = await setup(tmp_path)
    released = await asyncio.to_thread(run, config, "release", envs[0].id)
    assert released.exit_code == 0, released.output
    assert "released at platform: later messages of its key go on" in released.output
    shown = await asyncio.to_thread(run, config, "messages", "show", envs[0].id)
    assert "released by cli:" in shown.output and "holds key" not in shown.output
    refused = await asyncio.to_thread(run, config, "release", envs[1].id)
    assert refused.exit_code == 1 and "needs exactly one dead delivery" in refused.output
