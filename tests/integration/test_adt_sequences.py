"""Sequences of PAM-FR messages → FR Core map → fhir destination → the test platform.

Issue 11's acceptance: each sequence ends with the platform's FULL state (every resource,
ids replaced by business identifiers, server metadata left out) equal to a reviewed
expected state (``expected/sequences/<name>.json``), and the same state is reached when
every message is delivered twice. The statements of the issue are also asserted one by one.
These run map + destination against the platform directly; test_adt_to_fhir.py drives some
of them through the whole engine (MLLP in).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from channels.fhir import FhirDestination, FhirDestinationConfig
from engine.components import DeliveryContext, Payload
from engine.mapping.loader import compile_map
from engine.mapping.runtime import CompiledMap
from engine.sandbox.fhir_platform import FhirPlatform
from tests.support.adt_messages import ELODIE, FRANCOIS, IPP_SYSTEM, adt
from tests.support.corpus import REPO

EXPECTED = Path(__file__).parent / "expected" / "sequences"
REGENERATE = os.environ.get("PASSERELLE_REGENERATE_SEQUENCES") == "1"
INS_SYSTEM = "urn:oid:1.2.250.1.213.1.4.10"


def m(event: str, n: int, at: str, **kw: Any) -> bytes:
    return adt(event, n, at=at, **kw)


A01 = m("A01", 1, "202611200930", movement="M1")
A02_USIC = m("A02", 2, "202611211430", movement="M2", bed="USIC^12^1", uf="4405")
A02_REED = m("A02", 3, "202611221000", movement="M3", bed="REED^3^1", uf="4410")
A03 = m("A03", 4, "202611241100", movement="M4", bed="REED^3^1", uf="4410")
A03_AFTER_A01 = m("A03", 4, "202611241100", movement="M4")

SEQUENCES: dict[str, list[bytes]] = {
    "transfers_then_discharge": [A01, A02_USIC, A02_REED, A03],
    "discharge_then_resent_admission": [A01, A03_AFTER_A01, A01],
    "admission_cancelled": [
        A01,
        m("A11", 5, "202611200930", movement="M1", action="CANCEL", original="A01"),
    ],
    "discharge_cancelled": [
        A01,
        A03_AFTER_A01,
        m("A13", 6, "202611241100", movement="M4", action="CANCEL", original="A03"),
    ],
    "discharge_alone_cancelled": [
        A03_AFTER_A01,
        m("A13", 6, "202611241100", movement="M4", action="CANCEL", original="A03"),
    ],
    "ins_kept_without_pid32": [
        A01,
        m("A02", 7, "202611211430", movement="M2", bed="USIC^12^1", uf="4405", pid32=""),
    ],
    "a31_with_pv1_on_a_discharged_stay": [
        m("A28", 8, "202611190800", pv1=False),
        A01,
        A03_AFTER_A01,
        m("A31", 9, "202611250900"),
    ],
    "merge_two_patients": [
        A01,
        m("A01", 10, "202611200945", person=FRANCOIS, movement="MF1"),
        m(
            "A40",
            11,
            "202611221000",
            pv1=False,
            mrg=f"{FRANCOIS.ipp}^^^CHU-EXEMPLE&1.2.250.1.71.4.2.2.123456789&ISO^PI",
        ),
    ],
    "ins_removed_by_a47": [
        A01,
        m(
            "A47",
            12,
            "202611231000",
            pv1=False,
            ins=None,
            pid32="PROV",
            mrg=f"{ELODIE.ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS",
        ),
    ],
}


@pytest.fixture(scope="module")
def shared_platform() -> Iterator[FhirPlatform]:
    with FhirPlatform() as started:
        yield started


@pytest.fixture(scope="module")
def adt_map() -> CompiledMap:
    return compile_map(REPO / "mappings" / "pam_fr_adt_to_fr_core.yaml")


Deliver = Callable[[bytes], Any]


@pytest.fixture
async def deliver(
    shared_platform: FhirPlatform, adt_map: CompiledMap
) -> AsyncIterator[Callable[[bytes], Any]]:
    shared_platform.reset()
    config = FhirDestinationConfig.model_validate({"base_url": shared_platform.base_url})
    dest = FhirDestination("platform", config)
    await dest.open()
    count = 0

    async def send(raw: bytes) -> str:
        nonlocal count
        count += 1
        body = adt_map.dumps(adt_map.apply(raw))
        context = DeliveryContext(f"D{count}", f"M{count}", "platform", 1, f"K{count}")
        return await dest.send(Payload(body, "application/fhir+json"), context)

    yield send
    await dest.close()


class Platform(Protocol):
    def resources(self, kind: str) -> list[dict[str, Any]]: ...


def snapshot(platform: Platform) -> dict[str, Any]:
    """Every resource by ``Type/<first identifier value>``, ids and references likewise,
    without server metadata (versionId, lastUpdated)."""
    resources = [r for kind in ("Patient", "Encounter") for r in platform.resources(kind)]
    names = {f"{r['resourceType']}/{r['id']}": _name(r) for r in resources}
    text = json.dumps(resources)
    for ref, name in sorted(names.items(), key=lambda item: -len(item[0])):
        text = text.replace(f'"{ref}"', f'"{name}"')
    state: dict[str, Any] = {}
    for res in json.loads(text):
        server = ("versionId", "lastUpdated", "author", "project", "compartment")
        meta = {k: v for k, v in res.pop("meta").items() if k not in server}
        name = _name(res)
        res.pop("id")
        assert name not in state, f"two resources named {name}"
        state[name] = {**res, "meta": meta} if meta else res
    return dict(sorted(state.items()))


def _name(res: dict[str, Any]) -> str:
    return f"{res['resourceType']}/{res['identifier'][0]['value']}"


def expected(name: str, state: dict[str, Any]) -> dict[str, Any]:
    path = EXPECTED / f"{name}.json"
    if REGENERATE and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state, indent=2, ensure_ascii=False) + "\n")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def deliveries(name: str, mode: str) -> list[bytes]:
    """The messages of a sequence as delivered: ``once``, ``each-twice`` (every message
    redelivered at once), ``replayed`` (the whole sequence sent again afterwards)."""
    messages = SEQUENCES[name]
    if mode == "each-twice":
        return [raw for raw in messages for _ in range(2)]
    return messages * 2 if mode == "replayed" else list(messages)


@pytest.mark.parametrize("mode", ["once", "each-twice", "replayed"])
@pytest.mark.parametrize("name", sorted(SEQUENCES))
async def test_sequence_ends_in_the_expected_state(
    name: str, mode: str, deliver: Deliver, shared_platform: FhirPlatform
) -> None:
    for raw in deliveries(name, mode):
        await deliver(raw)
    state = snapshot(shared_platform)
    assert state == expected(name, state)
    CHECKS[name](state)


# --- the issue's statements, one by one ------------------------------------------------
State = dict[str, Any]
STAY = f"Encounter/{ELODIE.ipp}-V1"


def _locations(stay: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [
        (place["location"]["display"], place["status"], place["period"].get("end"))
        for place in stay["location"]
        if "identifier" not in place["location"]
    ]


def check_transfers(state: State) -> None:
    stay = state[STAY]
    assert stay["status"] == "finished"
    assert stay["period"] == {
        "start": "2026-11-20T09:30:00+01:00",  # kept from the admission
        "end": "2026-11-24T11:00:00+01:00",  # ZBE-2 of the A03 (no PV1-45)
    }
    assert _locations(stay) == [
        ("CARD / 204 / 1", "completed", "2026-11-21T14:30:00+01:00"),
        ("USIC / 12 / 1", "completed", "2026-11-22T10:00:00+01:00"),
        ("REED / 3 / 1", "completed", "2026-11-24T11:00:00+01:00"),
    ]
    movements = {k: v for k, v in state.items() if k.startswith("Encounter/M")}
    assert {k: (v["status"], v["period"].get("end")) for k, v in movements.items()} == {
        "Encounter/M1": ("finished", "2026-11-21T14:30:00+01:00"),
        "Encounter/M2": ("finished", "2026-11-22T10:00:00+01:00"),
        "Encounter/M3": ("finished", "2026-11-24T11:00:00+01:00"),
        "Encounter/M4": ("finished", "2026-11-24T11:00:00+01:00"),
    }
    assert all(v["partOf"] == {"reference": STAY} for v in movements.values())


def check_resent_admission(state: State) -> None:
    stay = state[STAY]
    assert (stay["status"], stay["period"]["end"]) == ("finished", "2026-11-24T11:00:00+01:00")
    assert state["Encounter/M1"]["status"] == "finished"


def check_admission_cancelled(state: State) -> None:
    assert state[STAY]["status"] == "entered-in-error"
    assert state["Encounter/M1"]["status"] == "entered-in-error"


def check_discharge_cancelled(state: State) -> None:
    stay = state[STAY]
    assert stay["status"] == "in-progress"
    assert stay["period"] == {"start": "2026-11-20T09:30:00+01:00"}
    assert "dischargeDisposition" not in stay.get("hospitalization", {})
    assert state["Encounter/M1"]["status"] == "in-progress"
    assert state["Encounter/M4"]["status"] == "entered-in-error"


def check_discharge_alone_cancelled(state: State) -> None:
    stay = state[STAY]
    assert stay["status"] == "in-progress" and "end" not in stay["period"]
    assert state["Encounter/M4"]["status"] == "entered-in-error"


def _patient(state: State, ipp: str = ELODIE.ipp) -> dict[str, Any]:
    return dict(state[f"Patient/{ipp}"])


def _status(patient: dict[str, Any]) -> str:
    (reliability,) = [e for e in patient["extension"] if e["url"].endswith("identity-reliability")]
    return str(reliability["extension"][0]["valueCoding"]["code"])


def check_ins_kept(state: State) -> None:
    patient = _patient(state)
    assert [i["value"] for i in patient["identifier"] if i["system"] == INS_SYSTEM] == [ELODIE.ins]
    assert _status(patient) == "VALI"
    assert patient["meta"]["profile"][0].endswith("fr-core-patient-ins")
    assert state[STAY]["location"][-1]["status"] == "active"


def check_a31(state: State) -> None:
    stay = state[STAY]
    assert (stay["status"], stay["period"]["end"]) == ("finished", "2026-11-24T11:00:00+01:00")
    assert [k for k in state if k.startswith("Encounter/")] == [
        STAY,
        "Encounter/M1",
        "Encounter/M4",
    ]


def check_merge(state: State) -> None:
    merged = _patient(state, FRANCOIS.ipp)
    assert merged["active"] is False
    assert merged["link"] == [
        {"other": {"reference": f"Patient/{ELODIE.ipp}"}, "type": "replaced-by"}
    ]
    assert merged["name"][0]["family"] == "DURAND" and merged["birthDate"] == "1962-03-15"
    survivor = _patient(state)
    assert {"other": {"reference": f"Patient/{FRANCOIS.ipp}"}, "type": "replaces"} in survivor[
        "link"
    ]
    subjects = {k: v["subject"]["reference"] for k, v in state.items() if k.startswith("Enc")}
    assert set(subjects.values()) == {f"Patient/{ELODIE.ipp}"}
    assert f"Encounter/{FRANCOIS.ipp}-V1" in subjects


def check_a47(state: State) -> None:
    patient = _patient(state)
    assert [i for i in patient["identifier"] if i["system"] == INS_SYSTEM] == []
    assert _status(patient) == "PROV"
    assert patient["meta"]["profile"][0].endswith("/fr-core-patient")


CHECKS: dict[str, Callable[[State], None]] = {
    "transfers_then_discharge": check_transfers,
    "discharge_then_resent_admission": check_resent_admission,
    "admission_cancelled": check_admission_cancelled,
    "discharge_cancelled": check_discharge_cancelled,
    "discharge_alone_cancelled": check_discharge_alone_cancelled,
    "ins_kept_without_pid32": check_ins_kept,
    "a31_with_pv1_on_a_discharged_stay": check_a31,
    "merge_two_patients": check_merge,
    "ins_removed_by_a47": check_a47,
}

__all__ = ["IPP_SYSTEM", "SEQUENCES", "snapshot"]


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_final_states_and_map_outputs_pass_the_fr_core_check(name: str) -> None:
    """Every resource the platform ends with, and every Bundle the map produced on the way,
    passes the FR Core checker (error findings; warnings such as dom-6 are allowed).
    No Bundle has two entries with the same URL."""
    frcore = pytest.importorskip(
        "engine.formats.fhir.frcore", reason="the FR Core checker is not in this tree yet"
    )
    if not frcore.frcore_available():
        pytest.skip("the FR Core package is not in the shared corpus")
    checker = frcore.frcore_checker()
    adt_map = compile_map(REPO / "mappings" / "pam_fr_adt_to_fr_core.yaml")
    for raw in SEQUENCES[name]:
        bundle = json.loads(adt_map.dumps(adt_map.apply(raw)))
        urls = [e["request"]["url"] for e in bundle["entry"]]
        assert len(urls) == len(set(urls))
        assert [str(f) for f in checker.check(bundle) if f.severity == "error"] == []
    for key, resource in json.loads((EXPECTED / f"{name}.json").read_text()).items():
        errors = [f for f in checker.check({**resource, "id": "x"}) if f.severity == "error"]
        assert [str(f) for f in errors] == [], key
