"""The same sequences against a real FHIR implementation: Medplum's FhirRouter (npm
@medplum/fhir-router 4.x, in-memory) under Node.js 20. Same expected states as on the test
platform: the update mechanism needs nothing a real server lacks, and the test platform
applies it as a real server does. Skips when node or the packages are missing (fails when
CI=true: .ci/run installs them)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from channels.fhir import FhirDestination, FhirDestinationConfig
from engine.components import DeliveryContext, Payload
from engine.mapping.loader import compile_map
from engine.sandbox.medplum_platform import MedplumPlatform, unavailable
from tests.integration.test_adt_sequences import CHECKS, SEQUENCES, deliveries, expected, snapshot
from tests.support.corpus import REPO


@pytest.fixture(scope="module")
def medplum() -> Iterator[MedplumPlatform]:
    reason = unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the Medplum check")
        pytest.skip(reason)
    with MedplumPlatform() as started:
        yield started


@pytest.fixture
async def destination(medplum: MedplumPlatform) -> AsyncIterator[FhirDestination]:
    medplum.reset()
    config = FhirDestinationConfig.model_validate({"base_url": medplum.base_url})
    dest = FhirDestination("medplum", config)
    await dest.open()
    yield dest
    await dest.close()


@pytest.mark.parametrize("mode", ["once", "each-twice"])
@pytest.mark.parametrize("name", sorted(SEQUENCES))
async def test_sequence_on_medplum_ends_in_the_expected_state(
    name: str, mode: str, destination: FhirDestination, medplum: MedplumPlatform
) -> None:
    adt_map = compile_map(REPO / "mappings" / "pam_fr_adt_to_fr_core.yaml")
    for n, raw in enumerate(deliveries(name, mode)):
        body = adt_map.dumps(adt_map.apply(raw))
        context = DeliveryContext(f"D{n}", f"M{n}", "medplum", 1, f"K{n}")
        await destination.send(Payload(body, "application/fhir+json"), context)
    state: dict[str, Any] = snapshot(medplum)
    assert state == expected(name, state)
    CHECKS[name](state)
