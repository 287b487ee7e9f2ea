"""Operator actions through the API on a real engine (its operator controls are the
console's runtime): pause/resume, stop/start, replay and its dry run, release, reload;
each one audited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from channels.mllp.server import MllpSource
from engine.app import Engine
from engine.assembly import build_engine
from engine.config.loader import load_config
from engine.message import DeliveryState
from engine.store.base import MessageQuery, Store
from engine.store.console import AuditQuery
from tests.support.console import CONFIG, EST_A, EST_B, Console, running_console, seed_message
from tests.support.mllp import MllpPeer, adt


@pytest.fixture
async def engine_console(tmp_path: Path) -> AsyncIterator[tuple[Engine, Console]]:
    path = tmp_path / "routes.yaml"
    path.write_text(CONFIG.format(home=tmp_path, extra=""))
    config = load_config(path)
    engine = build_engine(config, source=path)
    await engine.start()
    try:
        async with running_console(
            tmp_path, engine.store, config=config, runtime=engine.controls
        ) as console:
            await console.add_user("oa", "operator", [EST_A])
            await console.add_user("ob", "operator", [EST_B])
            await console.add_user("root", "admin")
            yield engine, console
    finally:
        await engine.stop()


def port_of(engine: Engine, channel: str) -> int:
    (source,) = [s for s in engine.sources if s.name == channel]
    assert isinstance(source, MllpSource)
    return source.address[1]


async def actions(store: Store) -> list[tuple[str, str, str, str]]:
    entries = await store.audit_entries(AuditQuery())
    return [(e.actor, e.action, e.object, e.outcome) for e in reversed(entries)]


async def test_pause_and_resume_reach_the_engine_at_once(
    engine_console: tuple[Engine, Console],
) -> None:
    engine, console = engine_console
    async with console.session("oa") as client:
        paused = await client.post("/api/v1/destinations/dest_a/pause")
        assert paused.json() == {"name": "dest_a", "paused": True}
        assert "dest_a" in engine.pipeline.paused
        overview = (await client.get("/api/v1/overview")).json()
        assert overview["destinations"][0]["status"] == "paused"
        resumed = await client.post("/api/v1/destinations/dest_a/resume")
        assert resumed.json() == {"name": "dest_a", "paused": False}
        assert "dest_a" not in engine.pipeline.paused
    async with console.session("ob") as client:
        assert (await client.post("/api/v1/destinations/dest_a/pause")).status_code == 404
        assert (await client.post("/api/v1/destinations/nowhere/pause")).status_code == 404
    assert [a[1:] for a in await actions(console.store) if a[1].startswith("destination")] == [
        ("destination.pause", "dest_a", "ok"),
        ("destination.resume", "dest_a", "ok"),
    ]


async def test_stop_closes_the_channel_and_start_opens_it_again(
    engine_console: tuple[Engine, Console],
) -> None:
    engine, console = engine_console
    port = port_of(engine, "chan_a")
    async with console.session("oa") as client:
        stopped = await client.post("/api/v1/channels/chan_a/stop")
        assert stopped.json() == {"name": "chan_a", "status": "stopped"}
        with pytest.raises(OSError):
            async with MllpPeer("127.0.0.1", port):
                pass
        started = await client.post("/api/v1/channels/chan_a/start")
        assert started.json() == {"name": "chan_a", "status": "listening"}
        async with MllpPeer("127.0.0.1", port) as peer:
            ack = await peer.exchange(adt("C1"))
        assert b"MSA|AA" in ack
    names = [a[1] for a in await actions(console.store)]
    assert "channel.stop" in names and "channel.start" in names


async def _delivered(store: Store, control_id: str) -> tuple[str, str]:
    for _ in range(200):
        found = [
            m
            for m in await store.list_messages(MessageQuery())
            if m.envelope.metadata.get("hl7.control_id") == control_id
        ]
        if found:
            deliveries = await store.deliveries(found[0].envelope.id)
            if deliveries and deliveries[0].state is DeliveryState.SENT:
                return found[0].envelope.id, deliveries[0].id
        await asyncio.sleep(0.05)
    raise AssertionError("the message was not delivered")


async def test_replay_dry_run_then_replay_of_a_delivered_message(
    engine_console: tuple[Engine, Console],
) -> None:
    engine, console = engine_console
    async with MllpPeer("127.0.0.1", port_of(engine, "chan_a")) as peer:
        await peer.exchange(adt("R1"))
    message_id, delivery_id = await _delivered(console.store, "R1")
    async with console.session("oa") as client:
        preview = await client.post(f"/api/v1/messages/{message_id}/replay", json={"dry_run": True})
        assert preview.status_code == 200, preview.text
        body = preview.json()
        assert body["would_replay"] is True
        assert [(r["route"], r["destination"]) for r in body["routes"]] == [("ra", "dest_a")]
        done = await client.post(
            f"/api/v1/messages/{message_id}/replay", json={"resend_sent": True}
        )
        assert done.json()["replayed"] is True
        refused = await client.post(f"/api/v1/deliveries/{delivery_id}/release")
        assert refused.status_code == 409
    async with console.session("ob") as client:
        hidden = await client.post(f"/api/v1/messages/{message_id}/replay", json={})
        assert hidden.status_code == 404
    audited = await actions(console.store)
    assert ("oa", "replay", message_id, "ok") in audited
    assert ("oa", "release", delivery_id, "failed") in audited
    history = await console.store.history(message_id)
    assert any("replayed by oa" in t.reason for t in history)


async def test_reload_applies_a_changed_file_and_refuses_a_broken_one(
    engine_console: tuple[Engine, Console], tmp_path: Path
) -> None:
    _, console = engine_console
    path = tmp_path / "routes.yaml"
    async with console.session("oa") as client:
        assert (await client.post("/api/v1/reload")).status_code == 403
    async with console.session("root") as client:
        path.write_text(path.read_text().replace("- {name: rb,", "- {name: rb2,"))
        ok = await client.post("/api/v1/reload")
        assert ok.status_code == 200, ok.text
        assert ok.json()["reloaded"] is True
        path.write_text("version: 1\nchannels: {bad: {type: nope}}\n")
        refused = await client.post("/api/v1/reload")
        assert refused.status_code == 409
    outcomes = [a[3] for a in await actions(console.store) if a[1] == "config.reload"]
    assert outcomes == ["denied", "ok", "failed"]  # the operator's try is audited too


async def test_release_lets_a_dead_letter_go(console: Console) -> None:
    _, delivery_id = await seed_message(
        console.store, "chan_a", "D1", destination="dest_a", outcome=DeliveryState.DEAD
    )
    assert delivery_id is not None
    await console.add_user("oa", "operator", [EST_A])
    async with console.session("oa") as client:
        answer = await client.post(f"/api/v1/deliveries/{delivery_id}/release")
    assert answer.json() == {"id": delivery_id, "state": "dead", "released": True}
    assert ("oa", "release", delivery_id, "ok") in await actions(console.store)


async def test_reload_without_an_engine_in_the_process_is_409(console: Console) -> None:
    await console.add_user("root", "admin")
    async with console.session("root") as client:
        answer = await client.post("/api/v1/reload")
    assert answer.status_code == 409 and "passerelle reload" in answer.json()["detail"]
