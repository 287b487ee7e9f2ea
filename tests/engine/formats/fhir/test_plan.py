"""The update mechanism end to end on the platform's data side (no HTTP): map → read →
plan → transaction, for permutations and duplications of message sequences."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.formats.fhir.plan import plan
from engine.formats.fhir.reads import (
    Ambiguous,
    add_related,
    marked_entries,
    related_queries,
    resolve,
)
from engine.mapping.loader import compile_map
from engine.mapping.runtime import CompiledMap
from engine.sandbox.fhir_repository import Repository
from tests.support.adt_messages import ELODIE, FRANCOIS, adt
from tests.support.corpus import REPO

MAP: CompiledMap = compile_map(REPO / "mappings" / "pam_fr_adt_to_fr_core.yaml")
A01 = adt("A01", 1, at="202611200930", movement="M1")
A02 = adt("A02", 2, at="202611211430", movement="M2", bed="USIC^12^1", uf="4405")
A02B = adt("A02", 3, at="202611221000", movement="M3", bed="REED^3^1", uf="4410")
A03 = adt("A03", 4, at="202611241100", movement="M4", bed="REED^3^1", uf="4410")
A12 = adt("A12", 5, at="202611221000", movement="M3", action="CANCEL", original="A02")
A13 = adt("A13", 6, at="202611241100", movement="M4", action="CANCEL", original="A03")


def deliver(repo: Repository, raw: bytes) -> list[dict[str, Any]]:
    """What the fhir destination does, against the repository; the entries written."""
    bundle = json.loads(MAP.dumps(MAP.apply(raw)))
    marked = marked_entries(bundle)
    state = resolve(marked, [repo.search(m.kind, m.search.partition("?")[2]) for m in marked])
    queries = related_queries(marked, state)
    add_related(state, queries, [repo.search("Encounter", q.partition("?")[2]) for q in queries])
    transaction = plan(bundle, marked, state)
    if transaction["entry"]:
        status, answer = repo.bundle(transaction)
        assert status == 200, answer
    entries: list[dict[str, Any]] = transaction["entry"]
    return entries


def stays(repo: Repository) -> dict[str, Any]:
    """Every Encounter by identifier, without server metadata and ids."""
    found = repo.of_type("Encounter")
    names = {f"Encounter/{r['id']}": r["identifier"][0]["value"] for r in found}
    out: dict[str, Any] = {}
    for res in found:
        res.pop("meta")
        res["id"] = names[f"Encounter/{res['id']}"]
        if "partOf" in res:
            res["partOf"] = names[res["partOf"]["reference"]]
        out[res["id"]] = res
    return out


def final(messages: list[bytes]) -> dict[str, Any]:
    repo = Repository()
    for raw in messages:
        deliver(repo, raw)
    return stays(repo)


IN_ORDER = [A01, A02, A02B, A03]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.permutations(IN_ORDER), st.lists(st.sampled_from(IN_ORDER), max_size=3))
def test_any_order_and_any_resend_of_a_stay_ends_like_the_ordered_sequence(
    order: list[bytes], resent: list[bytes]
) -> None:
    assert final([*order, *resent]) == final(IN_ORDER)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.permutations([A01, A02, A02B, A12, A03, A13]))
def test_cancellations_revert_their_event_whatever_the_order(order: list[bytes]) -> None:
    state = final(order)
    assert final([A01, A02, A02B, A12, A03, A13]) == state
    stay = state["100234-V1"]
    assert stay["status"] == "in-progress" and "end" not in stay["period"]
    assert [p["period"].get("end") for p in stay["location"] if "identifier" in p["location"]] == [
        "2026-11-21T14:30:00+01:00",
        None,
    ]
    assert state["M3"]["status"] == state["M4"]["status"] == "entered-in-error"
    assert state["M2"]["status"] == "in-progress"


def test_a_redelivered_message_writes_nothing() -> None:
    repo = Repository()
    for raw in IN_ORDER:
        deliver(repo, raw)
        assert deliver(repo, raw) == []


def test_existing_resources_are_updated_with_if_match_and_new_ones_created_conditionally() -> None:
    repo = Repository()
    deliver(repo, A01)
    entries = deliver(repo, A02)
    requests = [
        (
            e["request"]["method"],
            e["request"].get("ifMatch"),
            e["request"].get("ifNoneExist", "")[:11],
        )
        for e in entries
    ]
    # the Patient (its event record), the stay and the first movement (closed) get
    # versioned updates; the new movement is a conditional create
    assert sorted(requests, key=str) == sorted(
        [("PUT", 'W/"1"', "")] * 3 + [("POST", None, "identifier=")], key=str
    )
    urls = [e["request"]["url"] for e in entries]
    assert len(urls) == len(set(urls))


def test_an_identifier_on_two_resources_is_refused() -> None:
    repo = Repository()
    deliver(repo, A01)
    (patient,) = repo.of_type("Patient")
    copy = {k: v for k, v in patient.items() if k not in ("id", "meta")}
    repo.bundle(
        {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"resource": copy, "request": {"method": "POST", "url": "Patient"}}],
        }
    )
    with pytest.raises(Ambiguous):
        deliver(repo, A02)


def test_a_pending_transfer_is_planned_and_leaves_the_stay_as_it_is() -> None:
    a15 = adt("A15", 7, at="202611211000", movement="P1", bed="USIC^12^1", uf="4405")
    state = final([A01, a15])
    assert state["P1"]["status"] == "planned"
    assert state["M1"]["status"] == "in-progress" and "end" not in state["M1"]["period"]
    stay = state["100234-V1"]
    assert stay["status"] == "in-progress"
    assert {p["status"] for p in stay["location"]} == {"active"}
    assert final([a15, A01]) == state


MERGE = [
    A01,
    adt("A01", 10, at="202611200945", person=FRANCOIS, movement="MF1"),
    adt(
        "A40",
        11,
        at="202611221000",
        pv1=False,
        mrg=f"{FRANCOIS.ipp}^^^CHU-EXEMPLE&1.2.250.1.71.4.2.2.123456789&ISO^PI",
    ),
]


def everything(messages: list[bytes]) -> dict[str, Any]:
    repo = Repository()
    for raw in messages:
        deliver(repo, raw)
    patients = {p["identifier"][0]["value"]: p for p in repo.of_type("Patient")}
    names = {f"Patient/{p['id']}": ipp for ipp, p in patients.items()}
    for p in patients.values():
        p.pop("meta"), p.pop("id")
        for link in p.get("link", []):
            link["other"]["reference"] = names[link["other"]["reference"]]
    subjects = {
        e["identifier"][0]["value"]: names[e["subject"]["reference"]]
        for e in repo.of_type("Encounter")
    }
    return {"patients": patients, "subjects": subjects}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.permutations(MERGE))
def test_a_merge_ends_the_same_whatever_the_order(order: list[bytes]) -> None:
    # the A40 and the merged patient's A01 have different ordering keys: either may come first
    state = everything(order)
    assert state == everything(MERGE)
    assert set(state["subjects"].values()) == {ELODIE.ipp}
    merged = state["patients"][FRANCOIS.ipp]
    assert merged["active"] is False and merged["birthDate"] == "1962-03-15"


def test_an_hl7_delete_removes_the_stored_value_unless_the_event_is_older() -> None:
    delete_birth = adt("A31", 12, at="202611250900", pv1=False).replace(
        b"||19850712|F|", b'||""|F|'
    )
    late_delete = adt("A31", 13, at="202611190900", pv1=False).replace(b"||19850712|F|", b'||""|F|')
    for messages, kept in (([A01, delete_birth], False), ([A01, late_delete], True)):
        repo = Repository()
        for raw in messages:
            deliver(repo, raw)
        (patient,) = repo.of_type("Patient")
        assert ("birthDate" in patient) is kept


def test_a_transfer_or_discharge_without_pv1_44_keeps_the_start() -> None:
    a02 = adt("A02", 2, at="202611211430", movement="M2", bed="USIC^12^1", admitted="")
    a03 = adt("A03", 4, at="202611241100", movement="M4", admitted="")
    state = final([A01, a02, a03])
    assert state["100234-V1"]["period"] == {
        "start": "2026-11-20T09:30:00+01:00",
        "end": "2026-11-24T11:00:00+01:00",
    }
    # a stay first heard of by a transfer starts with its first movement
    alone = final([a02])
    assert alone["100234-V1"]["period"] == {"start": "2026-11-21T14:30:00+01:00"}
