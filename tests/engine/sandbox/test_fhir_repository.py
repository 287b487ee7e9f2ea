"""The test platform's data side applies FHIR R4 interactions as a real server does."""

from __future__ import annotations

from typing import Any

import pytest

from engine.sandbox.fhir_repository import Repository

SYS = "urn:oid:1.2.250.1.71.4.2.2.123456789"


def patient(ipp: str, family: str = "DUPONT") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": SYS, "value": ipp}],
        "name": [{"family": family}],
    }


def encounter(number: str, subject: str, part_of: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": [{"system": SYS, "value": number}],
        "status": "in-progress",
        "class": {"code": "IMP"},
        "subject": {"reference": subject},
    }
    if part_of:
        res["partOf"] = {"reference": part_of}
    return res


def tx(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(res: dict[str, Any], full_url: str = "", if_none_exist: str = "") -> dict[str, Any]:
    request: dict[str, Any] = {"method": "POST", "url": res["resourceType"]}
    if if_none_exist:
        request["ifNoneExist"] = if_none_exist
    entry: dict[str, Any] = {"resource": res, "request": request}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def put(res: dict[str, Any], url: str, if_match: str = "") -> dict[str, Any]:
    request = {"method": "PUT", "url": url, **({"ifMatch": if_match} if if_match else {})}
    return {"resource": res, "request": request}


def get(url: str) -> dict[str, Any]:
    return {"request": {"method": "GET", "url": url}}


def issue_code(body: dict[str, Any]) -> str:
    return str(body["issue"][0]["code"])


def test_if_match_names_the_current_version_or_the_update_fails_with_412() -> None:
    repo = Repository()
    assert repo.bundle(tx(post(patient("1"))))[0] == 200
    changed = {**patient("1", "MARTIN"), "id": "1"}
    status, body = repo.bundle(tx(put(changed, "Patient/1", 'W/"2"')))
    assert (status, issue_code(body)) == (412, "conflict")
    assert repo.of_type("Patient")[0]["name"] == [{"family": "DUPONT"}]  # nothing applied
    status, body = repo.bundle(tx(put(changed, "Patient/1", 'W/"1"')))
    assert status == 200 and body["entry"][0]["response"]["etag"] == 'W/"2"'
    # a stale version after that update is refused again
    assert repo.bundle(tx(put({**patient("1"), "id": "1"}, "Patient/1", 'W/"1"')))[0] == 412


def test_if_match_on_a_resource_that_does_not_exist_fails() -> None:
    status, _ = Repository().bundle(tx(put({**patient("1"), "id": "9"}, "Patient/9", 'W/"1"')))
    assert status == 412


def test_conditional_create_with_several_matches_fails_and_one_match_creates_nothing() -> None:
    repo = Repository()
    repo.bundle(tx(post(patient("1")), post(patient("1", "AUTRE")), kind="batch"))
    status, body = repo.bundle(tx(post(patient("1"), if_none_exist=f"identifier={SYS}|1")))
    assert (status, issue_code(body)) == (412, "duplicate")
    repo = Repository()
    repo.bundle(tx(post(patient("1"))))
    status, body = repo.bundle(tx(post(patient("1"), if_none_exist=f"identifier={SYS}|1")))
    assert body["entry"][0]["response"]["status"] == "200 OK"
    assert len(repo.of_type("Patient")) == 1


def test_two_entries_writing_the_same_resource_fail_the_transaction() -> None:
    repo = Repository()
    repo.bundle(tx(post(patient("1"))))
    url = f"Patient?identifier={SYS}|1"
    status, body = repo.bundle(
        tx(put(patient("1"), url), put({**patient("1", "X"), "id": "1"}, "Patient/1"))
    )
    assert (status, issue_code(body)) == (400, "processing")


def test_reads_come_after_the_writes_and_search_follows_references() -> None:
    repo = Repository()
    status, body = repo.bundle(
        tx(
            get("Encounter?subject=Patient/1"),
            get("Encounter?part-of=Encounter/1"),
            post(patient("1"), "urn:uuid:p"),
            post(encounter("V1", "urn:uuid:p"), "urn:uuid:v"),
            post(encounter("M1", "urn:uuid:p", "urn:uuid:v")),
            get("Patient/1"),
        )
    )
    assert status == 200, body
    by_subject, by_venue, *_, read = [e.get("resource") for e in body["entry"]]
    assert by_subject["total"] == 2
    assert [e["resource"]["identifier"][0]["value"] for e in by_venue["entry"]] == ["M1"]
    assert read["identifier"][0]["value"] == "1"
    combined = repo.search("Encounter", f"identifier={SYS}|M1&subject=Patient/1")
    assert len(combined) == 1
    assert repo.search("Encounter", "subject=Patient/2") == []


@pytest.mark.parametrize(
    ("entry", "status"),
    [
        ({"request": {"method": "PATCH", "url": "Patient/1"}}, 405),
        ({"request": {"method": "HEAD", "url": "Patient/1"}}, 405),
        (get("Patient?name=DUPONT"), 400),
        (get("Patient/1/_history"), 400),
        (
            {
                "resource": patient("1"),
                "request": {"method": "PUT", "url": "Patient/1", "ifNoneMatch": "*"},
            },
            400,
        ),
    ],
)
def test_an_interaction_the_platform_does_not_implement_is_an_error(
    entry: dict[str, Any], status: int
) -> None:
    repo = Repository()
    repo.bundle(tx(post(patient("1"))))
    assert repo.bundle(tx(entry))[0] == status
    # in a batch, the entry fails on its own and the batch answers 200
    answer = repo.bundle(tx(entry, kind="batch"))[1]
    assert answer["entry"][0]["response"]["status"] == str(status)


def test_rest_put_with_if_match() -> None:
    repo = Repository()
    repo.bundle(tx(post(patient("1"))))
    res = {**patient("1", "NEW"), "id": "1"}
    assert repo.rest("PUT", "Patient/1", res, if_match='W/"3"')[0] == 412
    status, body, location = repo.rest("PUT", "Patient/1", res, if_match='W/"1"')
    assert (status, location, body["name"]) == (200, "Patient/1/_history/2", [{"family": "NEW"}])


def test_a_search_answers_one_page_with_a_next_link_when_cut() -> None:
    repo = Repository()
    repo.bundle(tx(post(patient("1"))))
    repo.bundle(tx(*[post(encounter(f"V{i}", "Patient/1")) for i in range(25)], kind="batch"))
    # a default page, as HAPI FHIR: 20 entries and a next link the client must not ignore
    page = repo.bundle(tx(get("Encounter?subject=Patient/1")))[1]["entry"][0]["resource"]
    assert (page["total"], len(page["entry"]), page["link"][0]["relation"]) == (25, 20, "next")
    big = repo.bundle(tx(get("Encounter?subject=Patient/1&_count=1000")))[1]
    assert len(big["entry"][0]["resource"]["entry"]) == 25
    assert "link" not in big["entry"][0]["resource"]
    assert repo.bundle(tx(get("Encounter?subject=Patient/1&_count=x")))[0] == 400
