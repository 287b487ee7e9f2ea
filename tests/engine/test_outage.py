"""A destination that goes down: the circuit opens, deliveries wait without spending
attempts, a probe finds it back, and everything is delivered (in-process, real store)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.app import Engine
from engine.circuit import CircuitPolicy, CircuitState
from engine.components import ComponentConfig, DeliveryContext, Destination, Payload
from engine.errors import RetryableDeliveryError
from engine.message import HL7V2, DeliveryState, Envelope, MessageState
from engine.pipeline import Pipeline
from engine.queue.base import Task, TaskKind
from engine.queue.memory import InProcessQueue
from engine.retry import RetryPolicy
from engine.router import CompiledRoute, Router
from engine.store.base import RoutingOutcome
from engine.store.sqlite import SqliteStore
from tests.engine.test_engine import accept, adt, wait_for

STRICT = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02, max_age=None)
CIRCUIT = CircuitPolicy(failures=3, probe_interval=0.05, max_probe_interval=0.1)


class Switchable(Destination[ComponentConfig]):
    """Refuses connections while ``down``; counts every call."""

    def __init__(self) -> None:
        super().__init__("platform", ComponentConfig())
        self.down = False
        self.calls = 0
        self.received: list[str] = []

    async def send(self, payload: Payload, context: DeliveryContext) -> str:
        self.calls += 1
        if self.down:
            raise RetryableDeliveryError("connection refused")
        self.received.append(context.dedupe_key)
        return "ok"


def make(tmp_path: Path, dest: Switchable, circuit: CircuitPolicy = CIRCUIT) -> Engine:
    return Engine(
        store=SqliteStore(tmp_path / "store.db"),
        router=Router([CompiledRoute("all", None, (), ("platform",))]),
        destinations={"platform": dest},
        default_policy=STRICT,
        default_circuit=circuit,
        shutdown_grace=0.5,
        poll_interval=0.05,
    )


async def states(engine: Engine) -> dict[DeliveryState, int]:
    return (await engine.store.delivery_counts()).get("platform", {})


async def test_an_outage_longer_than_the_retry_budget_dead_letters_nothing(
    tmp_path: Path,
) -> None:
    dest = Switchable()
    dest.down = True
    engine = make(tmp_path, dest)
    alerts: list[str] = []
    engine.alert_hooks.append(lambda event, details: alerts.append(event))
    await engine.start()
    try:
        ids = [(await accept(engine, f"C{i}")).id for i in range(40)]

        async def circuit_open() -> bool:
            found = await engine.store.destination_statuses()
            return bool(found) and found[0].state == "open"

        await wait_for(circuit_open)
        # the outage lasts many probe intervals: far longer than 3 attempts' backoff
        calls_when_opened = dest.calls
        await asyncio.sleep(0.6)
        assert (await states(engine)).get(DeliveryState.DEAD, 0) == 0
        probes = dest.calls - calls_when_opened
        assert 1 <= probes <= 0.6 / 0.05 + 1  # probes only: one at a time, not 40 per round
        dest.down = False

        async def all_sent() -> bool:
            return (await states(engine)) == {DeliveryState.SENT: 40}

        await wait_for(all_sent)
        (status,) = await engine.store.destination_statuses()
        assert status.state == "closed" and status.opens == 1
        assert alerts == ["destination.paused", "destination.resumed"]
        for message_id in ids:
            (d,) = await engine.store.deliveries(message_id)
            assert d.attempts - d.attempts_at_replay <= 3
    finally:
        await engine.stop()
    assert sorted(dest.received) == sorted(f"HIS_CHU-X_C{i}" for i in range(40))


async def test_without_a_circuit_the_same_outage_dead_letters_everything(tmp_path: Path) -> None:
    dest = Switchable()
    dest.down = True
    engine = make(tmp_path, dest, CircuitPolicy(enabled=False))
    await engine.start()
    try:
        for i in range(10):
            await accept(engine, f"C{i}")

        async def all_dead() -> bool:
            return (await states(engine)) == {DeliveryState.DEAD: 10}

        await wait_for(all_dead)
        assert dest.calls == 30
    finally:
        await engine.stop()


async def test_a_restarted_engine_keeps_an_open_circuit_open(tmp_path: Path) -> None:
    dest = Switchable()
    dest.down = True
    engine = make(
        tmp_path, dest, CircuitPolicy(failures=2, probe_interval=30, max_probe_interval=60)
    )
    await engine.start()
    try:
        for i in range(3):
            await accept(engine, f"C{i}")

        async def circuit_open() -> bool:
            found = await engine.store.destination_statuses()
            return bool(found) and found[0].state == "open"

        await wait_for(circuit_open)
    finally:
        await engine.stop()
    calls = dest.calls
    dest.down = False
    again = make(
        tmp_path, dest, CircuitPolicy(failures=2, probe_interval=30, max_probe_interval=60)
    )
    await again.start()
    try:
        await asyncio.sleep(0.3)  # several poll rounds: deliveries stay parked
        assert dest.calls == calls
        assert again.pipeline.breaker("platform").state == "open"
    finally:
        await again.stop()


async def _age(engine: Engine, delivery_id: str, seconds: float) -> None:
    """Make a delivery look ``seconds`` old (created then), as a long outage would."""
    store = engine.store
    assert isinstance(store, SqliteStore)
    await store._writer.run(
        lambda c: c.execute(
            "UPDATE deliveries SET created_at = created_at - ? WHERE id = ?", (seconds, delivery_id)
        )
    )


async def test_default_policy_keeps_retrying_an_hour_old_delivery_and_gives_up_after_a_day(
    tmp_path: Path,
) -> None:
    dest = Switchable()
    dest.down = True
    engine = Engine(
        store=SqliteStore(tmp_path / "store.db"),
        router=Router([CompiledRoute("all", None, (), ("platform",))]),
        destinations={"platform": dest},
        default_policy=RetryPolicy(initial_backoff=0.01, max_backoff=0.02),  # max_age 24h
        shutdown_grace=0.5,
    )
    await engine.start()
    try:
        old, older = (await accept(engine, "OLD")).id, (await accept(engine, "OLDER")).id

        async def retried(message_id: str, times: int) -> bool:
            found = await engine.store.deliveries(message_id)  # none until routed
            return bool(found) and found[0].attempts >= times

        await wait_for(lambda: retried(old, 1))
        await wait_for(lambda: retried(older, 1))
        (d_old,) = await engine.store.deliveries(old)
        (d_older,) = await engine.store.deliveries(older)
        await _age(engine, d_old.id, 3600)
        await _age(engine, d_older.id, 86_400)
        await wait_for(lambda: retried(old, d_old.attempts + 5))  # an hour: still retrying

        async def dead(message_id: str) -> bool:
            (d,) = await engine.store.deliveries(message_id)
            return d.state is DeliveryState.DEAD

        await wait_for(lambda: dead(older))
        (d,) = await engine.store.deliveries(older)
        assert d.last_error.startswith(f"gave up after {d.attempts} attempts in 1d")
        assert not await dead(old)

        # a replay gives a fresh budget: its age counts from the replay, not the creation
        assert (await engine.store.request_replay(older)).replayed
        await wait_for(lambda: retried(older, d.attempts + 3))
        assert not await dead(older)
    finally:
        await engine.stop()


async def test_processes_sharing_a_store_take_up_each_others_circuit(tmp_path: Path) -> None:
    """Two pipelines (as two worker processes) on one store: one opens the circuit, the
    other stops sending too; one closes it, the other's waiting deliveries go."""
    dest = Switchable()
    dest.down = True
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    policy = CircuitPolicy(failures=2, probe_interval=60, max_probe_interval=60)
    queues = (InProcessQueue(), InProcessQueue())
    first, second = (
        Pipeline(
            store,
            queue,
            Router([CompiledRoute("all", None, (), ("platform",))]),
            {"platform": dest},
            {},
            STRICT,
            default_circuit=policy,
        )
        for queue in queues
    )
    second.circuit_sync = 0.0  # read the shared state on every delivery
    try:
        ids = []
        for i in range(5):
            env = Envelope.new(channel="in", raw=adt(f"C{i}"), content_type=HL7V2, metadata={})
            await store.accept(env)
            await store.start_processing(env.id)
            outcome = RoutingOutcome(MessageState.ROUTED, "all", [("platform", "all")])
            (d,) = await store.finish_routing(env.id, outcome)
            ids.append(d.id)
        second.breaker("platform")  # it has delivered there before
        await first.deliver(ids[0])
        await first.deliver(ids[1])
        assert first.breaker("platform").state is CircuitState.OPEN and dest.calls == 2
        await second.deliver(ids[2])  # takes the open circuit up: no attempt
        assert second.breaker("platform").state is CircuitState.OPEN and dest.calls == 2
        assert (await store.get_delivery(ids[2])).attempts == 0

        dest.down = False
        first.breaker("platform").next_probe_at = 0.0  # probe now (the failed ones wait
        await first.deliver(ids[4])  # for their retry time: a fresh delivery probes)
        assert first.breaker("platform").state is CircuitState.CLOSED
        await second.deliver(ids[3])  # reads the closed circuit, sends, wakes the waiting one
        assert second.breaker("platform").state is CircuitState.CLOSED
        assert await asyncio.wait_for(queues[1].get(), 5) == Task(TaskKind.DELIVER, ids[2])
    finally:
        await store.close()
