"""Acceptance of issue 5 in one process: engine → fhir destination → test platform.

Messages are PAM-FR ADT; a test transform (tests/support/fhir_bundles.py) turns each into an
FR Core transaction Bundle at delivery time, as a route's map does. Operator commands run
through the real CLI against the same store while the engine runs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from channels.fhir import FhirDestination, FhirDestinationConfig
from engine.app import Engine
from engine.cli import main
from engine.formats.hl7v2 import read_header
from engine.message import HL7V2, DeliveryState, Envelope
from engine.pipeline import Transform
from engine.queue.ordering import OrderingRule
from engine.retry import RetryPolicy
from engine.router import CompiledRoute, Router
from engine.sandbox.fhir_platform import FhirPlatform
from engine.store.sqlite import SqliteStore
from tests.support.fhir_bundles import adt, adt_bundle, adt_bundle_unformatted_dates, patient_key

PATIENT_LOG = ["Patient:{ipp}", "Encounter:{p}-A01", "Encounter:{p}-A02", "Encounter:{p}-A03"]


@pytest.fixture
async def start(
    tmp_path: Path, platform: FhirPlatform
) -> AsyncIterator[Callable[..., Awaitable[Engine]]]:
    engines: list[Engine] = []

    async def make(transform: Transform, policy: RetryPolicy) -> Engine:
        config = FhirDestinationConfig.model_validate(
            {"base_url": platform.base_url, "timeout": "2s"}
        )
        engine = Engine(
            store=SqliteStore(tmp_path / "store.db"),
            router=Router([CompiledRoute("adt", None, (), ("platform",))]),
            destinations={"platform": FhirDestination("platform", config)},
            default_policy=policy,
            transforms={"adt": transform},
            orderings={"platform": OrderingRule("patient")},
            workers=4,
            poll_interval=0.05,
            shutdown_grace=0.5,
        )
        await engine.start()
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.stop()


async def accept(
    engine: Engine, control_id: str, ipp: str, event: str, birth: str = ""
) -> Envelope:
    raw = adt(control_id, ipp, event, birth)
    return await engine.accept("mllp_in", raw, HL7V2, read_header(raw).metadata())


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    async def poll() -> None:
        while not await predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


def delivered(
    engine: Engine, envs: list[Envelope], wanted: DeliveryState = DeliveryState.SENT
) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        for env in envs:
            ds = await engine.store.deliveries(env.id)
            if not ds or ds[0].state is not wanted:
                return False
        return True

    return check


async def test_platform_down_for_a_while_then_all_arrive_in_patient_order(
    start: Callable[..., Awaitable[Engine]], platform: FhirPlatform
) -> None:
    platform.down()
    engine = await start(
        adt_bundle, RetryPolicy(max_attempts=200, initial_backoff=0.02, max_backoff=0.1)
    )
    envs = {
        (p, event): await accept(engine, f"P{p}-{event}", f"IPP{p}", event)
        for event in ("A01", "A02", "A03")
        for p in range(3)
    }
    heads = [envs[(p, "A01")] for p in range(3)]

    async def backing_off() -> bool:
        ds = [(await engine.store.deliveries(e.id))[0] for e in heads]
        return all(d.state is DeliveryState.RETRYING and d.attempts >= 3 for d in ds)

    await until(backing_off)
    (head,) = await engine.store.deliveries(heads[0].id)
    assert "connection failed" in head.last_error and head.next_attempt_at is not None
    for p in range(3):  # the later messages of each patient were never attempted
        for event in ("A02", "A03"):
            (d,) = await engine.store.deliveries(envs[(p, event)].id)
            assert (d.state, d.attempts) == (DeliveryState.PENDING, 0)
    platform.up()
    await until(delivered(engine, list(envs.values())))
    for p in range(3):
        expected = [line.format(ipp=f"IPP{p}", p=f"P{p}") for line in PATIENT_LOG]
        assert platform.arrivals(patient_key(f"IPP{p}")) == expected
    assert len(platform.resources("Patient")) == 3  # nothing lost, nothing doubled
    assert len(platform.resources("Encounter")) == 9


async def test_retry_after_is_honoured(
    start: Callable[..., Awaitable[Engine]], platform: FhirPlatform
) -> None:
    platform.fail(429, retry_after="1")
    engine = await start(
        adt_bundle, RetryPolicy(max_attempts=5, initial_backoff=0.01, max_backoff=5)
    )
    env = await accept(engine, "T-A01", "IPPT", "A01")
    await until(delivered(engine, [env]))
    (d,) = await engine.store.deliveries(env.id)
    first, second = await engine.store.attempts(d.id)
    assert first.outcome is DeliveryState.RETRYING and "HTTP 429" in first.detail
    assert (second.at - first.at).total_seconds() >= 0.99  # not the 10 ms backoff


def cli(config: Path, *args: str) -> Awaitable[Result]:
    """Run ``passerelle ARGS -c CONFIG`` in a thread (the CLI runs its own event loop)."""
    return asyncio.to_thread(CliRunner().invoke, main, [*args, "-c", str(config)])


async def test_a_refused_message_is_dead_at_once_shown_and_replayed_after_the_fix(
    start: Callable[..., Awaitable[Engine]], platform: FhirPlatform, tmp_path: Path
) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(f"version: 1\nstore: {{path: {tmp_path / 'store.db'}}}\n")
    engine = await start(
        adt_bundle_unformatted_dates, RetryPolicy(max_attempts=5, initial_backoff=0.01)
    )
    refused = await accept(engine, "R-A01", "IPPR", "A01", birth="19800102")
    waiting = await accept(engine, "R-A02", "IPPR", "A02", birth="19800102")
    other = await accept(engine, "O-A01", "IPPO", "A01")
    await until(delivered(engine, [other]))
    await until(delivered(engine, [refused], DeliveryState.DEAD))
    (d,) = await engine.store.deliveries(refused.id)
    assert d.attempts == 1  # a 400 is not retried
    shown = await cli(config, "messages", "show", refused.id)
    assert shown.exit_code == 0, shown.output
    assert (
        "last error   refused: POST transaction: HTTP 400 Bad Request: error invalid"
        in shown.output
    )
    assert "[Patient.birthDate]" in shown.output and "holds key" in shown.output
    later = await cli(config, "messages", "show", waiting.id)
    assert f"waiting for  message {refused.id} (dead), same key" in later.output
    # the map is fixed, then the operator replays the dead letter
    engine.pipeline.transforms["adt"] = adt_bundle
    replayed = await cli(config, "replay", refused.id)
    assert replayed.exit_code == 0, replayed.output
    assert f"{refused.id}  replayed: routed → received" in replayed.output
    await until(delivered(engine, [refused, waiting]))
    assert platform.arrivals(patient_key("IPPR")) == [
        "Patient:IPPR",
        "Encounter:R-A01",
        "Encounter:R-A02",
    ]
    (patient,) = platform.repo.search("Patient", "identifier=IPPR")
    assert patient["birthDate"] == "1980-01-02"
    history = (await cli(config, "messages", "show", refused.id)).output
    assert re.search(r"routed → received +replayed by cli:", history)
    assert re.search(r"#1 .* pending +replayed by cli:", history)
