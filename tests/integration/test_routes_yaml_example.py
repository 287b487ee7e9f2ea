"""The commented example of the repository's routes.yaml, uncommented as it says, delivers
both the FR Core Bundle and the ANS event notification to the platform (issue 16).

Two routes send the same ADT to the same ``platform`` destination with different maps:
each (route, destination) pair is its own delivery with its own map, so neither map is
lost, ``messages show`` lists both, and the ORU that follows finds its Patient.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.app import Engine
from engine.cli import main
from engine.message import DeliveryState
from engine.sandbox.fhir_platform import FhirPlatform
from engine.sandbox.local import sandbox_pki
from engine.store.base import MessageQuery
from tests.support.corpus import REPO
from tests.support.engines import mllp_port, running_engine
from tests.support.mllp import MllpPeer, msa

SAMPLE = REPO / "samples" / "hl7v2" / "adt_a01_admission.hl7"
ORU = REPO / "tests" / "routes" / "inputs" / "oru_r01_lab_results.hl7"


def uncommented_example() -> str:
    """routes.yaml with its commented route put first under ``routes:``, as it instructs."""
    text = (REPO / "routes.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "Put this route first" in line)
    block = [line[1:] for line in lines[start + 1 :] if line.startswith("#  ")]
    assert block and block[0].lstrip().startswith("- name: adt_notifications")
    at = lines.index("routes:") + 1
    return "\n".join([*lines[:at], *block, *lines[at:start]]) + "\n"


@pytest.fixture
def platform() -> Iterator[FhirPlatform]:
    with FhirPlatform() as started:
        yield started


@pytest.fixture
async def engine(
    tmp_path: Path, platform: FhirPlatform, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Engine]:
    monkeypatch.chdir(REPO)  # engine.mappings: ./mappings, as with `make run`
    sandbox_pki(tmp_path / "sandbox")
    env = {
        "PASSERELLE_HOME": str(tmp_path),
        "MLLP_PORT": "0",
        "SANDBOX_FHIR_PORT": str(platform.port),
        "SANDBOX_DMP_PORT": "1",
    }
    (tmp_path / "routes.yaml").write_text(uncommented_example())
    async with running_engine(uncommented_example(), env=env) as started:
        yield started


async def send(engine: Engine, path: Path) -> str:
    async with MllpPeer("127.0.0.1", mllp_port(engine, "mllp_in")) as peer:
        fields = msa(await peer.exchange(path.read_bytes()))
    assert fields[1] == "AA", fields
    return fields[2]


async def sent(engine: Engine, control_id: str) -> list[tuple[str, str]]:
    """(route, destination) of the message's deliveries, once all of them are sent."""

    async def poll() -> list[tuple[str, str]]:
        while True:
            found = await engine.store.list_messages(MessageQuery(control_id=control_id))
            ds = [d for m in found for d in await engine.store.deliveries(m.envelope.id)]
            if ds and all(d.state is DeliveryState.SENT for d in ds):
                return [(d.route, d.destination) for d in ds]
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(poll(), 30)


async def test_both_maps_reach_the_platform_and_the_oru_finds_its_patient(
    engine: Engine, platform: FhirPlatform, tmp_path: Path
) -> None:
    # Given the default routes.yaml with the notification route uncommented
    control_id = await send(engine, SAMPLE)
    # Then the admission makes one delivery per (route, destination) pair, in route order
    assert await sent(engine, control_id) == [
        ("adt_notifications", "platform"),
        ("adt_to_fr_core", "platform"),
        ("hl7_to_archive", "archive"),
    ]
    # and the platform holds the FR Core Patient and the event notification
    assert [p["identifier"][0]["value"] for p in platform.resources("Patient")] == ["100234"]
    assert len(platform.resources("CommunicationRequest")) == 1
    assert len(platform.resources("Encounter")) >= 1

    # When the lab result for that patient follows, it is accepted (no 412: the Patient is there)
    oru = await send(engine, ORU)
    assert ("lab_results_to_fr_core", "platform") in await sent(engine, oru)
    assert platform.resources("DiagnosticReport")

    # And `messages show` lists both deliveries to the platform with their routes
    found = await engine.store.list_messages(MessageQuery(control_id=control_id))
    shown = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["messages", "show", found[0].envelope.id, "-c", str(tmp_path / "routes.yaml")],
        env={"PASSERELLE_HOME": str(tmp_path)},
    )
    assert shown.exit_code == 0, shown.output
    assert "platform (route adt_notifications): sent" in shown.output
    assert "platform (route adt_to_fr_core): sent" in shown.output
