"""A few routes on the PostgreSQL store: login, scoped search with patient digest, detail,
overview counters, a control and the audit trail."""

from __future__ import annotations

import pytest

from engine.message import DeliveryState
from engine.patient_index import PatientIdKind, patient_key
from engine.store.console import AuditQuery
from tests.support.console import EST_A, EST_B, SECRET, Console, seed_message

pytestmark = pytest.mark.integration


async def test_session_search_detail_overview_and_pause_on_postgres(pg_console: Console) -> None:
    console = pg_console
    key = patient_key(SECRET, PatientIdKind.IPP, "IPP9")
    msg_a, _ = await seed_message(
        console.store, "chan_a", "A1", destination="dest_a", outcome=DeliveryState.DEAD,
        keys=[key],
    )  # fmt: skip
    await seed_message(console.store, "chan_b", "B1", route="rb", destination="dest_b")
    await console.add_user("oa", "operator", [EST_A])
    await console.add_user("ob", "operator", [EST_B])
    async with console.session("oa") as client:
        found = (await client.get("/api/v1/messages", params={"ipp": "ipp9"})).json()
        assert [m["id"] for m in found["items"]] == [msg_a]
        detail = (await client.get(f"/api/v1/messages/{msg_a}")).json()
        assert detail["deliveries"][0]["state"] == "dead"
        overview = (await client.get("/api/v1/overview")).json()
        assert [(d["name"], d["counts"]["dead"]) for d in overview["destinations"]] == [
            ("dest_a", 1)
        ]
        paused = await client.post("/api/v1/destinations/dest_a/pause")
        assert paused.json() == {"name": "dest_a", "paused": True}
    async with console.session("ob") as client:
        assert (await client.get(f"/api/v1/messages/{msg_a}")).status_code == 404
        everything = (await client.get("/api/v1/messages")).json()
        assert {m["channel"] for m in everything["items"]} == {"chan_b"}
    entries = await console.store.audit_entries(AuditQuery())
    assert {(e.actor, e.action) for e in entries} >= {
        ("oa", "login"), ("ob", "login"), ("oa", "destination.pause"),
    }  # fmt: skip
