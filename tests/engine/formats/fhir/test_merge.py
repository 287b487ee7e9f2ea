"""merge(): absent never erases, newer wins, older fills, keyed lists, deletes, defaults."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engine.formats.fhir.events import LAST_EVENT, Stamp, read_stamp, with_stamp
from engine.formats.fhir.merge import merge

SYS = "urn:oid:1.2.250.1.71.4.2.2.123456789"
INS = "urn:oid:1.2.250.1.213.1.4.10"
RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"


def patient(time: str, event: str = "A31", **fields: Any) -> dict[str, Any]:
    res = {"resourceType": "Patient", **fields}
    return with_stamp(res, Stamp(event, time))


def test_an_absent_value_never_erases() -> None:
    stored = {**patient("2026-11-20T09:30:00+01:00", birthDate="1985-07-12"), "id": "7"}
    stored["meta"] = {"versionId": "3"}
    result = merge(stored, patient("2026-11-21T10:00:00+01:00", gender="female"))
    assert (result["birthDate"], result["gender"], result["id"]) == ("1985-07-12", "female", "7")
    assert result["meta"] == {"versionId": "3"}
    stamp = read_stamp(result)
    assert stamp is not None and stamp.time == "2026-11-21T10:00:00+01:00"


def test_an_older_event_only_fills() -> None:
    stored = patient("2026-11-21T10:00:00+01:00", "A03", gender="female")
    late = patient("2026-11-20T09:30:00+01:00", "A01", gender="male", birthDate="1985-07-12")
    result = merge(stored, late)
    assert (result["gender"], result["birthDate"]) == ("female", "1985-07-12")
    stamp = read_stamp(result)
    assert stamp is not None and stamp.event == "A03"  # the record keeps the latest


def test_identifiers_merge_by_system_and_type_and_a_delete_removes_one() -> None:
    ipp = {"system": SYS, "value": "100234", "type": {"coding": [{"code": "PI"}]}}
    ins = {"system": INS, "value": "285074410912393", "type": {"coding": [{"code": "INS"}]}}
    stored = patient("2026-11-20T09:30:00+01:00", identifier=[ipp, ins])
    renumbered = {**ipp, "value": "100999"}
    result = merge(stored, patient("2026-11-21T10:00:00+01:00", identifier=[renumbered]))
    assert result["identifier"] == [renumbered, ins]  # no PID-32: the INS is kept
    removed = merge(
        result,
        patient("2026-11-22T10:00:00+01:00", identifier=[renumbered]),
        deletes=[f"identifier:{INS}"],
    )
    assert removed["identifier"] == [renumbered]


def test_a_default_is_written_only_where_nothing_is_stored() -> None:
    qual = {
        "url": RELIABILITY,
        "extension": [{"url": "identityStatus", "valueCoding": {"code": "VALI"}}],
    }
    prov = {
        "url": RELIABILITY,
        "extension": [{"url": "identityStatus", "valueCoding": {"code": "PROV"}}],
    }
    stored = patient("2026-11-20T09:30:00+01:00", extension=[qual])
    stored = with_stamp(stored, Stamp("A01", "2026-11-20T09:30:00+01:00"))
    incoming = with_stamp(
        {"resourceType": "Patient", "extension": [prov]}, Stamp("A02", "2026-11-21T10:00:00+01:00")
    )
    defaults = [f"extension:{RELIABILITY}"]
    kept = merge(stored, incoming, defaults=defaults)
    assert [e for e in kept["extension"] if e["url"] == RELIABILITY] == [qual]
    new = merge(None, incoming, defaults=defaults)
    assert [e for e in new["extension"] if e["url"] == RELIABILITY] == [prov]
    assert new["extension"][-1]["url"] == LAST_EVENT


def test_a_cancelled_movement_stays_cancelled() -> None:
    def movement(time: str, status: str, action: str) -> dict[str, Any]:
        res = {"resourceType": "Encounter", "status": status}
        return with_stamp(res, Stamp("A01", time, action, "A01"))

    inserted = movement("2026-11-20T09:30:00+01:00", "in-progress", "INSERT")
    cancelled = movement("2026-11-20T09:30:00+01:00", "entered-in-error", "CANCEL")
    assert merge(merge(None, inserted), cancelled)["status"] == "entered-in-error"
    assert merge(merge(None, cancelled), inserted)["status"] == "entered-in-error"


FIELDS = st.sampled_from(["gender", "birthDate", "deceasedBoolean", "maritalStatus"])
EVENTS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=5),
        st.dictionaries(FIELDS, st.sampled_from(["a", "b", "c"]), max_size=3),
    ),
    min_size=1,
    max_size=6,
)


def _apply(events: list[tuple[int, dict[str, str]]]) -> dict[str, Any] | None:
    current: dict[str, Any] | None = None
    for hour, fields in events:
        current = merge(current, patient(f"2026-11-20T{10 + hour:02d}:00:00+01:00", **fields))
    return current


@given(EVENTS)
def test_merging_each_message_twice_is_merging_it_once(
    events: list[tuple[int, dict[str, str]]],
) -> None:
    twice = [e for e in events for _ in range(2)]
    assert _apply(twice) == _apply(events)


@given(EVENTS)
def test_in_time_order_each_element_holds_its_latest_value(
    events: list[tuple[int, dict[str, str]]],
) -> None:
    # events with distinct times, delivered in time order: each element holds the value of
    # the latest event that carried it
    by_time = {hour: fields for hour, fields in events}
    ordered = sorted(by_time.items())
    result = _apply(ordered) or {}
    for name in ("gender", "birthDate", "deceasedBoolean", "maritalStatus"):
        carriers = [fields[name] for _, fields in ordered if name in fields]
        assert result.get(name) == (carriers[-1] if carriers else None)


def test_a_choice_element_has_one_type_at_a_time() -> None:
    dead = patient("2026-11-20T09:30:00+01:00", deceasedDateTime="2026-11-20T09:00:00+01:00")
    later = patient("2026-11-21T10:00:00+01:00", deceasedBoolean=False)
    result = merge(dead, later)
    assert (result.get("deceasedBoolean"), "deceasedDateTime" in result) == (False, False)
    # an older event does not bring the other type back
    older = patient("2026-11-19T10:00:00+01:00", deceasedBoolean=True)
    assert merge(dead, older)["deceasedDateTime"] == "2026-11-20T09:00:00+01:00"
    assert "deceasedBoolean" not in merge(dead, older)


def test_an_older_event_does_not_bring_back_what_a_newer_one_deleted() -> None:
    ins = {"system": INS, "value": "285074410912393", "type": {"coding": [{"code": "INS"}]}}
    admission = patient(
        "2026-11-20T09:30:00+01:00", "A01", identifier=[ins], birthDate="1985-07-12"
    )
    removal = patient("2026-11-23T10:00:00+01:00", "A47")
    removed = merge(admission, removal, deletes=[f"identifier:{INS}", "birthDate"])
    assert "identifier" not in removed and "birthDate" not in removed
    stamp = read_stamp(removed)
    assert stamp is not None and stamp.deleted == ("birthDate", f"identifier:{INS}")
    # the admission resent (older): neither comes back
    assert merge(removed, admission) == removed
    # a newer event that carries them again brings them back, and clears the record
    newer = patient("2026-11-24T10:00:00+01:00", "A31", identifier=[ins], birthDate="1985-07-12")
    back = merge(removed, newer)
    assert back["identifier"] == [ins] and back["birthDate"] == "1985-07-12"
    stamp = read_stamp(back)
    assert stamp is not None and stamp.deleted == ()
