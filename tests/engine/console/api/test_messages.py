"""Message search and detail, raw view, attempt payloads: scope, paging, patient search."""

from __future__ import annotations

import json

from engine.message import DeliveryState
from engine.patient_index import PatientIdKind, patient_key
from engine.store.console import AuditQuery
from tests.support.console import EST_A, EST_B, SECRET, Console, seed_message


async def test_search_is_scoped_to_the_users_establishments_and_pages(console: Console) -> None:
    ids_a = [(await seed_message(console.store, "chan_a", f"A{i}"))[0] for i in range(5)]
    await seed_message(console.store, "chan_b", "B1")
    await seed_message(console.store, "chan_free", "F1")
    await console.add_user("va", "viewer", [EST_A])
    await console.add_user("all", "viewer")
    async with console.session("va") as client:
        first = (await client.get("/api/v1/messages", params={"limit": 3})).json()
        assert [m["id"] for m in first["items"]] == ids_a[::-1][:3]
        assert first["next"] == ids_a[2]
        rest = (
            await client.get("/api/v1/messages", params={"limit": 3, "before": first["next"]})
        ).json()
        assert [m["id"] for m in rest["items"]] == ids_a[1::-1] and rest["next"] is None
        item = first["items"][0]
        assert item["channel"] == "chan_a" and item["establishment"] == EST_A
        assert item["control_id"] == "A4" and item["message_type"] == "ADT^A01"
        # another establishment's channel: nothing (not an error)
        other = (await client.get("/api/v1/messages", params={"channel": "chan_b"})).json()
        assert other == {"items": [], "next": None}
    async with console.session("all") as client:
        everything = (await client.get("/api/v1/messages", params={"limit": 200})).json()
        assert {m["channel"] for m in everything["items"]} == {"chan_a", "chan_b", "chan_free"}


async def test_patient_search_needs_operator_and_finds_by_keyed_digest(console: Console) -> None:
    key = patient_key(SECRET, PatientIdKind.IPP, "IPP123")
    wanted, _ = await seed_message(console.store, "chan_a", "A1", keys=[key])
    await seed_message(console.store, "chan_a", "A2")
    await console.add_user("va", "viewer", [EST_A])
    await console.add_user("oa", "operator", [EST_A])
    await console.add_user("ob", "operator", [EST_B])
    async with console.session("va") as client:
        refused = await client.get("/api/v1/messages", params={"ipp": "IPP123"})
        assert refused.status_code == 403
    async with console.session("oa") as client:
        found = (await client.get("/api/v1/messages", params={"ipp": " ipp123 "})).json()
        assert [m["id"] for m in found["items"]] == [wanted]
        two = await client.get("/api/v1/messages", params={"ipp": "X", "nda": "Y"})
        assert two.status_code == 400
    async with console.session("ob") as client:
        found = (await client.get("/api/v1/messages", params={"ipp": "IPP123"})).json()
        assert found["items"] == []


async def test_patient_search_without_a_secret_is_409(tmp_path, store) -> None:  # type: ignore[no-untyped-def]
    from tests.support.console import running_console

    async with running_console(tmp_path, store, secret=None) as console:
        await console.add_user("oa", "operator")
        async with console.session("oa") as client:
            answer = await client.get("/api/v1/messages", params={"nda": "V1"})
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"


async def test_bad_filters_are_400_problems(console: Console) -> None:
    await console.add_user("v", "viewer")
    async with console.session("v") as client:
        for params in ({"state": "lost"}, {"since": "yesterday"}, {"limit": "500"}):
            answer = await client.get("/api/v1/messages", params=params)
            assert answer.status_code == 400, params
            assert set(answer.json()) == {"type", "title", "status", "detail"}


async def test_detail_shows_history_deliveries_and_attempts_without_payload(
    console: Console,
) -> None:
    message_id, delivery_id = await seed_message(
        console.store, "chan_a", "A1", destination="dest_a", outcome=DeliveryState.DEAD
    )
    await console.add_user("va", "viewer", [EST_A])
    await console.add_user("vb", "viewer", [EST_B])
    async with console.session("va") as client:
        detail = (await client.get(f"/api/v1/messages/{message_id}")).json()
    assert detail["state"] == "routed" and detail["metadata"]["hl7.control_id"] == "A1"
    assert [h["to"] for h in detail["history"]] == ["received", "processing", "routed"]
    (delivery,) = detail["deliveries"]
    assert delivery["id"] == delivery_id and delivery["state"] == "dead"
    assert [a["outcome"] for a in delivery["attempt_log"]] == ["dead"]
    assert "Dupré" not in json.dumps(detail) and "HÉLÈNE" not in json.dumps(detail)
    async with console.session("vb") as client:
        assert (await client.get(f"/api/v1/messages/{message_id}")).status_code == 404
        assert (await client.get("/api/v1/messages/01UNKNOWN")).status_code == 404


async def test_raw_view_decodes_the_charset_lays_out_segments_and_is_audited(
    console: Console,
) -> None:
    message_id, _ = await seed_message(console.store, "chan_a", "A1")
    await console.add_user("oa", "operator", [EST_A])
    await console.add_user("va", "viewer", [EST_A])
    async with console.session("va") as client:
        assert (await client.get(f"/api/v1/messages/{message_id}/raw")).status_code == 403
    async with console.session("oa") as client:
        raw = (await client.get(f"/api/v1/messages/{message_id}/raw")).json()
    assert raw["format"] == "hl7v2" and raw["charset"] in ("iso8859-1", "latin-1", "iso8859_1")
    assert "HÉLÈNE^Dupré" in raw["text"]
    msh, _evn, pid = raw["segments"]
    assert msh["name"] == "MSH" and msh["fields"][0] == "|" and msh["fields"][9] == "A1"
    assert pid["name"] == "PID" and pid["fields"][4] == "HÉLÈNE^Dupré"
    entries = await console.store.audit_entries(AuditQuery(action="payload.view"))
    assert [(e.actor, e.object, e.outcome) for e in entries] == [
        ("oa", message_id, "ok"),
        ("va", message_id, "denied"),  # the viewer's refused try
    ]
    assert all("Dupré" not in e.detail for e in entries)


async def test_attempt_payloads_show_the_bundle_sent_and_the_response(console: Console) -> None:
    bundle = json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": []}).encode()
    _, delivery_id = await seed_message(
        console.store, "chan_a", "A1", destination="dest_a", outcome=DeliveryState.SENT,
        sent=bundle, response=b'{"resourceType": "Bundle", "type": "transaction-response"}',
    )  # fmt: skip
    await console.add_user("oa", "operator", [EST_A])
    await console.add_user("ob", "operator", [EST_B])
    async with console.session("oa") as client:
        body = (await client.get(f"/api/v1/deliveries/{delivery_id}/payloads")).json()
    (item,) = body["items"]
    assert item["number"] == 1 and item["sent"]["content_type"] == "application/fhir+json"
    assert json.loads(item["sent"]["text"])["type"] == "transaction"
    assert "transaction-response" in item["response"]["text"]
    async with console.session("ob") as client:
        assert (await client.get(f"/api/v1/deliveries/{delivery_id}/payloads")).status_code == 404
    entries = await console.store.audit_entries(AuditQuery(action="payload.view"))
    assert [(e.actor, e.object) for e in entries] == [("oa", delivery_id)]


async def test_mail_and_mtom_payloads_show_headers_and_hide_binary_parts(console: Console) -> None:
    mail = (
        b"From: passerelle@chu.example\r\nTo: dr@mssante.example\r\nSubject: CR\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\nVoir piece jointe\r\n"
        b"--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"JVBERi0xLjQK\r\n--b1--\r\n"
    )
    _, delivery_id = await seed_message(
        console.store, "chan_a", "A1", destination="dest_a", outcome=DeliveryState.SENT, sent=mail
    )
    await console.add_user("oa", "operator")
    async with console.session("oa") as client:
        body = (await client.get(f"/api/v1/deliveries/{delivery_id}/payloads")).json()
    sent = body["items"][0]["sent"]
    assert sent["content_type"] == "message/rfc822"
    assert "Subject: CR" in sent["text"] and "Voir piece jointe" in sent["text"]
    assert "[application/pdf, 9 bytes not shown]" in sent["text"]


async def test_an_mtom_soap_request_shows_the_xds_metadata_and_sizes_the_document(
    console: Console,
) -> None:
    from channels.dmp import mtom

    soap = (
        b'<?xml version="1.0"?><s:Envelope xmlns:s="x"><rim:Slot name="creationTime"/></s:Envelope>'
    )
    body, _ = mtom.encode(
        soap,
        {"doc1": b"\x00\x01binary-pdf"},
        action="urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
    )
    _, delivery_id = await seed_message(
        console.store, "chan_a", "A1", destination="dest_a", outcome=DeliveryState.SENT, sent=body
    )
    await console.add_user("oa", "operator")
    async with console.session("oa") as client:
        sent = (await client.get(f"/api/v1/deliveries/{delivery_id}/payloads")).json()["items"][0][
            "sent"
        ]
    assert sent["content_type"] == "multipart/related"
    assert 'rim:Slot name="creationTime"' in sent["text"]
    assert "[application/octet-stream, 12 bytes not shown]" in sent["text"]
