"""The engine end to end without a network: intake → store → route → deliver, retries, restart."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from channels.file import FileDestination, FileDestinationConfig
from engine.app import Engine
from engine.components import ComponentConfig, DeliveryContext, Destination, Payload
from engine.errors import MappingError, PermanentDeliveryError, RetryableDeliveryError
from engine.formats.hl7v2 import read_header
from engine.message import HL7V2, DeliveryState, Envelope, MessageState
from engine.retry import RetryPolicy
from engine.router import CompiledRoute, Router
from tests.support.postgres import pg_dsn, postgres_server
from tests.support.stores import NewStore, new_store

__all__ = ["new_store", "pg_dsn", "postgres_server"]

FAST = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)


def adt(control_id: str) -> bytes:
    return (
        f"MSH|^~\\&|HIS|CHU-X|PASSERELLE|GRADES|20240305101500||ADT^A01^ADT_A01|{control_id}|P|2.5"
        "\rPID|1||123^^^CHU-X^PI\r"
    ).encode()


class Scripted(Destination[ComponentConfig]):
    """A destination that fails according to a script, then records what it received."""

    def __init__(self, script: list[Callable[[], None]], name: str = "scripted") -> None:
        super().__init__(name, ComponentConfig())
        self.script = script
        self.received: list[str] = []

    async def send(self, payload: Payload, context: DeliveryContext) -> str:
        if self.script:
            self.script.pop(0)()
        self.received.append(context.dedupe_key)
        return "ok"


def transient() -> None:
    raise RetryableDeliveryError("connection refused")


def permanent() -> None:
    raise PermanentDeliveryError("AE: unknown patient")


async def accept(engine: Engine, control_id: str) -> Envelope:
    raw = adt(control_id)
    return await engine.accept("in", raw, HL7V2, read_header(raw).metadata())


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not await predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def make_engine(
    tmp_path: Path, new_store: NewStore, destination: Destination[ComponentConfig] | None = None
) -> Engine:
    dest: Destination[object] = destination or FileDestination(  # type: ignore[assignment]
        "out", FileDestinationConfig(directory=tmp_path / "out")
    )
    name = dest.name
    router = Router([CompiledRoute("all", None, (), (name,))])
    return Engine(
        store=new_store(),
        router=router,
        destinations={name: dest},
        default_policy=FAST,
        shutdown_grace=0.5,
    )


async def delivery_state(engine: Engine, message_id: str) -> DeliveryState | None:
    ds = await engine.store.deliveries(message_id)
    return ds[0].state if ds else None


async def test_accepted_message_is_routed_and_written_to_a_file(
    tmp_path: Path, new_store: NewStore
) -> None:
    engine = make_engine(tmp_path, new_store)
    await engine.start()
    try:
        env = await accept(engine, "MSG0001")

        async def sent() -> bool:
            return await delivery_state(engine, env.id) is DeliveryState.SENT

        await wait_for(sent)
        out = tmp_path / "out" / "HIS_CHU-X_MSG0001.hl7"
        assert out.read_bytes() == env.raw
        stored = await engine.store.get_message(env.id)
        assert stored.state is MessageState.ROUTED
        assert [t.to_state for t in await engine.store.history(env.id)] == [
            MessageState.RECEIVED,
            MessageState.PROCESSING,
            MessageState.ROUTED,
        ]
        (d,) = await engine.store.deliveries(env.id)
        assert (d.destination, d.route, d.attempts, d.detail) == ("out", "all", 1, str(out))
    finally:
        await engine.stop()


async def test_transient_failures_are_retried_then_delivered(
    tmp_path: Path, new_store: NewStore
) -> None:
    dest = Scripted([transient, transient])
    engine = make_engine(tmp_path, new_store, dest)
    await engine.start()
    try:
        env = await accept(engine, "R1")

        async def sent() -> bool:
            return await delivery_state(engine, env.id) is DeliveryState.SENT

        await wait_for(sent)
        (d,) = await engine.store.deliveries(env.id)
        assert d.attempts == 3 and d.last_error == "connection refused"
        outcomes = [a.outcome for a in await engine.store.attempts(d.id)]
        assert outcomes == [DeliveryState.RETRYING, DeliveryState.RETRYING, DeliveryState.SENT]
        assert dest.received == ["HIS_CHU-X_R1"]
    finally:
        await engine.stop()


@pytest.mark.parametrize(
    ("script", "attempts", "error"),
    [
        ([transient] * 5, 3, "gave up after 3 attempts: connection refused"),
        ([permanent], 1, "refused: AE: unknown patient"),
    ],
)
async def test_failures_end_in_a_dead_letter_with_the_reason(
    tmp_path: Path, new_store: NewStore, script: list[Callable[[], None]], attempts: int, error: str
) -> None:
    engine = make_engine(tmp_path, new_store, Scripted(list(script)))
    await engine.start()
    try:
        env = await accept(engine, "D1")

        async def dead() -> bool:
            return await delivery_state(engine, env.id) is DeliveryState.DEAD

        await wait_for(dead)
        (d,) = await engine.store.deliveries(env.id)
        assert (d.attempts, d.last_error) == (attempts, error)
        assert (await engine.store.get_message(env.id)).state is MessageState.ROUTED
    finally:
        await engine.stop()


async def test_work_committed_before_a_crash_resumes_at_start(
    tmp_path: Path, new_store: NewStore
) -> None:
    # Given messages committed by a previous run that never processed them
    store = new_store()
    await store.open()
    envs = []
    for i in range(5):
        raw = adt(f"K{i}")
        e = Envelope.new(
            channel="in", raw=raw, content_type=HL7V2, metadata=read_header(raw).metadata()
        )
        await store.accept(e)
        envs.append(e)
    await store.start_processing(envs[0].id)  # crashed while processing this one
    await store.close()
    # When the engine starts
    engine = make_engine(tmp_path, new_store)
    await engine.start()
    try:

        async def all_sent() -> bool:
            states = [await delivery_state(engine, e.id) for e in envs]
            return all(s is DeliveryState.SENT for s in states)

        await wait_for(all_sent)
        # Then each was delivered once, to its own file
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
            f"HIS_CHU-X_K{i}.hl7" for i in range(5)
        ]
    finally:
        await engine.stop()


class Blocking(Destination[ComponentConfig]):
    def __init__(self) -> None:
        super().__init__("slow", ComponentConfig())
        self.started = asyncio.Event()

    async def send(self, payload: Payload, context: DeliveryContext) -> str:
        self.started.set()
        await asyncio.sleep(60)
        return "never"


async def test_graceful_stop_releases_in_flight_work_for_the_next_start(
    tmp_path: Path, new_store: NewStore
) -> None:
    blocking = Blocking()
    engine = make_engine(tmp_path, new_store, blocking)
    await engine.start()
    env = await accept(engine, "S1")
    await asyncio.wait_for(blocking.started.wait(), 5)
    await engine.stop()  # grace 0.5 s, then the send is cancelled
    # The delivery is still pending in the store, and a new engine delivers it
    dest = Scripted([], name="slow")
    engine2 = make_engine(tmp_path, new_store, dest)
    await engine2.start()
    try:

        async def sent() -> bool:
            return await delivery_state(engine2, env.id) is DeliveryState.SENT

        await wait_for(sent)
        assert dest.received == ["HIS_CHU-X_S1"]
    finally:
        await engine2.stop()


async def test_route_transform_shapes_the_payload_and_mapping_errors_dead_letter(
    tmp_path: Path,
    new_store: NewStore,
) -> None:
    def upper(envelope: Envelope) -> Payload:
        if b"BROKEN" in envelope.raw:
            raise MappingError("map 'm', rule 'r', path PID-3: no identifier")
        return Payload(envelope.raw.upper(), "text/plain", {})

    dest = Recording()
    engine = make_engine(tmp_path, new_store, dest)
    engine.pipeline.transforms["all"] = upper
    await engine.start()
    try:
        good = await accept(engine, "ok1")
        bad = await accept(engine, "BROKEN")

        async def finished() -> bool:
            states = [await delivery_state(engine, e.id) for e in (good, bad)]
            return all(s is not None and s.finished for s in states)

        await wait_for(finished)
        assert dest.bodies == [good.raw.upper()]
        (d,) = await engine.store.deliveries(bad.id)
        assert (d.state, d.last_error) == (
            DeliveryState.DEAD,
            "mapping: map 'm', rule 'r', path PID-3: no identifier",
        )
    finally:
        await engine.stop()


async def test_the_dedupe_key_is_recorded_only_when_the_delivery_succeeds(
    tmp_path: Path,
    new_store: NewStore,
) -> None:
    engine = make_engine(tmp_path, new_store, Scripted([permanent, transient]))
    await engine.start()
    try:
        refused = await accept(engine, "DD1")

        async def dead() -> bool:
            return await delivery_state(engine, refused.id) is DeliveryState.DEAD

        await wait_for(dead)
        assert not await engine.store.was_delivered("scripted", "HIS_CHU-X_DD1")
        retried = await accept(engine, "DD2")  # fails once, then goes through

        async def sent() -> bool:
            return await delivery_state(engine, retried.id) is DeliveryState.SENT

        await wait_for(sent)
        assert await engine.store.was_delivered("scripted", "HIS_CHU-X_DD2")
        assert not await engine.store.was_delivered("scripted", "HIS_CHU-X_DD1")
    finally:
        await engine.stop()


class Recording(Destination[ComponentConfig]):
    def __init__(self) -> None:
        super().__init__("recording", ComponentConfig())
        self.bodies: list[bytes] = []

    async def send(self, payload: Payload, context: DeliveryContext) -> str:
        self.bodies.append(payload.body)
        return "ok"
