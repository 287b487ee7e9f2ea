"""Per-key ordering, dead letters that hold their key, release, replay and the store poller,
on each store backend (SQLite file; PostgreSQL, a real server).

Operator actions go through a second store object on the same file or database, as the
CLI does from another process: the running engine only learns about them from its store
poller.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from engine.app import Engine
from engine.components import ComponentConfig, DeliveryContext, Destination, Payload
from engine.errors import PermanentDeliveryError, RetryableDeliveryError
from engine.formats.hl7v2 import read_header
from engine.message import HL7V2, DeliveryState, Envelope, MessageState
from engine.queue.ordering import OnDead, OrderingRule
from engine.retry import RetryPolicy
from engine.router import CompiledRoute, Router
from engine.store.base import Store
from tests.support.fhir_bundles import adt
from tests.support.postgres import pg_dsn, postgres_server
from tests.support.stores import NewStore, new_store

__all__ = ["new_store", "pg_dsn", "postgres_server"]

FAST = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)


class Recorder(Destination[ComponentConfig]):
    """Records control ids in delivery order; refuses or fails the ones it is told to."""

    def __init__(self) -> None:
        super().__init__("peer", ComponentConfig())
        self.order: list[str] = []
        self.refuse: set[str] = set()
        self.transient: dict[str, int] = {}
        self.in_flight = self.max_in_flight = 0

    async def send(self, payload: Payload, context: DeliveryContext) -> str:
        control_id = read_header(payload.body).control_id
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(random.uniform(0, 0.005))
        finally:
            self.in_flight -= 1
        if control_id in self.refuse:
            raise PermanentDeliveryError("AE: refused")
        if self.transient.get(control_id, 0) > 0:
            self.transient[control_id] -= 1
            raise RetryableDeliveryError("connection refused")
        self.order.append(control_id)
        return "ok"

    def of(self, prefix: str) -> list[str]:
        return [c for c in self.order if c.startswith(prefix)]


def build(
    new_store: NewStore, dest: Recorder, on_dead: OnDead = "block", policy: RetryPolicy = FAST
) -> Engine:
    return Engine(
        store=new_store(),
        router=Router([CompiledRoute("all", None, (), (dest.name,))]),
        destinations={dest.name: dest},
        default_policy=policy,
        orderings={dest.name: OrderingRule("patient", on_dead)},
        workers=8,
        poll_interval=0.05,
        shutdown_grace=0.5,
    )


@pytest.fixture
async def operator(new_store: NewStore) -> AsyncIterator[Store]:
    """The store as a CLI in another process sees it."""
    store = new_store()
    await store.open()
    yield store
    await store.close()


async def accept(engine: Engine, control_id: str, ipp: str) -> Envelope:
    raw = adt(control_id, ipp)
    return await engine.accept("in", raw, HL7V2, read_header(raw).metadata())


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not await predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def state(engine: Engine, env: Envelope) -> DeliveryState | None:
    ds = await engine.store.deliveries(env.id)
    return ds[0].state if ds else None


async def all_sent(engine: Engine, envs: list[Envelope]) -> bool:
    return all([await state(engine, e) is DeliveryState.SENT for e in envs])


async def test_each_patient_is_delivered_in_order_while_patients_go_in_parallel(
    new_store: NewStore,
) -> None:
    dest = Recorder()
    dest.transient = {"P2-1": 2, "P4-0": 1}  # retries in the middle of a patient's stream
    engine = build(new_store, dest)
    await engine.start()
    try:
        envs = [await accept(engine, f"P{p}-{i}", f"IPP{p}") for i in range(6) for p in range(5)]
        await wait_for(lambda: all_sent(engine, envs))
    finally:
        await engine.stop()
    for p in range(5):
        assert dest.of(f"P{p}-") == [f"P{p}-{i}" for i in range(6)]
    assert dest.max_in_flight > 1  # other patients were not held up


async def test_a_dead_letter_holds_its_key_until_released_and_others_go_on(
    new_store: NewStore, operator: Store
) -> None:
    dest = Recorder()
    dest.refuse = {"A-0"}
    engine = build(new_store, dest)
    await engine.start()
    try:
        a0, a1 = await accept(engine, "A-0", "IPPA"), await accept(engine, "A-1", "IPPA")
        b0 = await accept(engine, "B-0", "IPPB")
        await wait_for(lambda: all_sent(engine, [b0]))
        await wait_for(lambda: _is(engine, a0, DeliveryState.DEAD))
        await asyncio.sleep(0.2)  # a few poller rounds: A-1 must still wait
        (waiting,) = await engine.store.deliveries(a1.id)
        assert (waiting.state, waiting.attempts) == (DeliveryState.PENDING, 0)
        blocker = await engine.store.order_blocker(waiting)
        assert blocker is not None and (blocker.message_id, blocker.state) == (a0.id, "dead")
        # the operator releases the key (from "another process")
        (dead,) = await operator.deliveries(a0.id)
        await operator.release_delivery(dead.id, "released by operator")
        await wait_for(lambda: all_sent(engine, [a1]))
    finally:
        await engine.stop()
    assert dest.order == ["B-0", "A-1"]


async def test_with_on_dead_continue_later_messages_pass_a_dead_letter(new_store: NewStore) -> None:
    dest = Recorder()
    dest.refuse = {"A-0"}
    engine = build(new_store, dest, on_dead="continue")
    await engine.start()
    try:
        a0, a1 = await accept(engine, "A-0", "IPPA"), await accept(engine, "A-1", "IPPA")
        await wait_for(lambda: all_sent(engine, [a1]))
        assert await state(engine, a0) is DeliveryState.DEAD
    finally:
        await engine.stop()


async def test_replay_after_a_fix_delivers_the_dead_letter_first_with_a_fresh_budget(
    new_store: NewStore, operator: Store
) -> None:
    dest = Recorder()
    dest.transient = {"A-0": 5}  # more failures than max_attempts (3)
    engine = build(new_store, dest)
    await engine.start()
    try:
        a0, a1 = await accept(engine, "A-0", "IPPA"), await accept(engine, "A-1", "IPPA")
        await wait_for(lambda: _is(engine, a0, DeliveryState.DEAD))
        (d,) = await engine.store.deliveries(a0.id)
        assert d.last_error == "gave up after 3 attempts: connection refused"
        result = await operator.request_replay(a0.id)
        assert result.replayed
        await wait_for(lambda: all_sent(engine, [a0, a1]))
        (d,) = await engine.store.deliveries(a0.id)
        assert d.attempts == 6  # 3 before the replay, then 2 failures and a success
        history = [t.reason for t in await engine.store.history(a0.id)]
        assert "replayed by operator" in history
        assert (await engine.store.get_message(a0.id)).state is MessageState.ROUTED
    finally:
        await engine.stop()
    assert dest.order == ["A-0", "A-1"]


async def test_an_earlier_message_still_unrouted_goes_first(new_store: NewStore) -> None:
    dest = Recorder()
    engine = build(new_store, dest)
    await engine.store.open()
    raw = adt("A-0", "IPPA")
    first = Envelope.new(
        channel="in", raw=raw, content_type=HL7V2, metadata=read_header(raw).metadata()
    )
    await engine.store.accept(first)  # committed, never queued: only the poller finds it
    await engine.store.close()
    engine = build(new_store, dest)
    engine.poller.interval = 0.3
    engine._recover = _no_recovery  # type: ignore[method-assign]
    await engine.start()
    try:
        second = await accept(engine, "A-1", "IPPA")
        await wait_for(lambda: all_sent(engine, [first, second]))
    finally:
        await engine.stop()
    assert dest.order == ["A-0", "A-1"]


async def _no_recovery() -> None:
    """Start without recovery, as if the earlier message arrived while this engine ran."""


async def _is(engine: Engine, env: Envelope, wanted: DeliveryState) -> bool:
    return await state(engine, env) is wanted
