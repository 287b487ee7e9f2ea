"""Overview and activity: counters per channel and destination, scoped, with statuses."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.message import DeliveryState
from engine.store.console import Control, NodeStatus
from tests.support.console import EST_A, Console, seed_message


async def test_overview_counts_and_statuses_within_scope(console: Console) -> None:
    await seed_message(
        console.store, "chan_a", "A1", destination="dest_a", outcome=DeliveryState.SENT
    )
    await seed_message(
        console.store, "chan_a", "A2", destination="dest_a", outcome=DeliveryState.DEAD
    )
    await seed_message(console.store, "chan_b", "B1", route="rb", destination="dest_b")
    now = datetime.now(UTC)
    await console.store.save_node_status(
        NodeStatus("node-a", 42, now, now, {"chan_a": "listening", "chan_b": "failed"})
    )
    await console.store.set_control(Control("destination", "dest_b", True, "ops", now))
    await console.add_user("va", "viewer", [EST_A])
    await console.add_user("all", "viewer")
    async with console.session("va") as client:
        body = (await client.get("/api/v1/overview")).json()
    (chan,) = body["channels"]
    assert chan["name"] == "chan_a" and chan["status"] == "listening" and chan["type"] == "mllp"
    assert chan["counts"]["routed"] == 2 and chan["counts"]["error"] == 0
    (dest,) = body["destinations"]
    assert dest["name"] == "dest_a" and dest["establishment"] == EST_A
    assert dest["counts"]["sent"] == 1 and dest["counts"]["dead"] == 1
    assert dest["status"] == "failing" and dest["last_error"] == "attempt dead"
    assert body["nodes"] == [
        {
            "node": "node-a",
            "pid": 42,
            "heartbeat_at": body["nodes"][0]["heartbeat_at"],
            "alive": True,
        }
    ]
    async with console.session("all") as client:
        body = (await client.get("/api/v1/overview")).json()
    channels = {c["name"]: c for c in body["channels"]}
    assert channels["chan_b"]["status"] == "failed" and channels["chan_free"]["status"] == "unknown"
    dests = {d["name"]: d for d in body["destinations"]}
    assert dests["dest_b"]["status"] == "paused" and dests["dest_b"]["backlog"] == 1


async def test_activity_series_are_scoped(console: Console) -> None:
    await seed_message(
        console.store, "chan_a", "A1", destination="dest_a", outcome=DeliveryState.SENT
    )
    await seed_message(
        console.store, "chan_b", "B1", route="rb", destination="dest_b", outcome=DeliveryState.SENT
    )
    await console.add_user("va", "viewer", [EST_A])
    async with console.session("va") as client:
        body = (await client.get("/api/v1/activity", params={"window": 600, "bucket": 60})).json()
        bad = await client.get("/api/v1/activity", params={"bucket": "x"})
    assert body["bucket"] == 60
    names = {(s["kind"], s["name"]) for s in body["series"]}
    assert names == {("channel", "chan_a"), ("destination", "dest_a")}
    dest = next(s for s in body["series"] if s["kind"] == "destination")
    assert sum(p["ok"] for p in dest["points"]) == 1
    assert bad.status_code == 400
