"""PostgreSQL-only behaviour: migrations, several nodes on one database, configuration."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import psycopg
import pytest

from engine.assembly import build_store
from engine.config.loader import load_config_text
from engine.errors import StoreError, StoreLocked
from engine.message import HL7V2, DeliveryState, Envelope, MessageState, utcnow
from engine.store import _pg_schema as schema
from engine.store.base import RoutingOutcome, Store
from engine.store.postgres import PostgresStore
from tests.support.postgres import Postgres, pg_dsn

__all__ = ["pg_dsn"]


def envelope(patient: str, n: int) -> Envelope:
    return Envelope.new(
        channel="in", raw=f"MSH|{patient}|{n}".encode(), content_type=HL7V2,
        metadata={"test.patient": patient, "test.n": str(n)},
    )  # fmt: skip


@pytest.fixture
async def nodes(pg_dsn: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one database: what two engine nodes see."""
    a, b = PostgresStore(pg_dsn, min_size=1, max_size=6), PostgresStore(pg_dsn, max_size=6)
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


async def test_a_new_database_is_migrated_once_and_a_newer_one_refused(pg_dsn: str) -> None:
    first, second = PostgresStore(pg_dsn, min_size=1), PostgresStore(pg_dsn, min_size=1)
    await asyncio.gather(first.open(), second.open())  # two nodes starting together
    await first.close()
    await second.close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT version FROM schema_version").fetchall()
        assert rows == [(schema.SCHEMA_VERSION,)]
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="schema 99, newer than this engine"):
        await PostgresStore(pg_dsn, min_size=1).open()


async def test_an_unreachable_database_is_a_store_error(postgres_server: Postgres) -> None:
    dsn = postgres_server.dsn("no_such_database")
    with pytest.raises(StoreError, match="opening the PostgreSQL store"):
        await PostgresStore(dsn, min_size=1, timeout=1).open()


async def test_two_nodes_racing_for_messages_process_each_once(
    nodes: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = nodes
    envs = [envelope("P", i) for i in range(40)]
    await asyncio.gather(*(a.accept(e) for e in envs))
    won = await asyncio.gather(
        *(s.start_processing(e.id, owner=f"{n}:1", lease=600)
          for e in envs for n, s in (("a", a), ("b", b)))
    )  # fmt: skip
    winners = [w for w in won if w is not None]
    assert sorted(w.envelope.id for w in winners) == sorted(e.id for e in envs)


async def test_two_nodes_never_send_two_deliveries_of_one_patient_at_once(
    nodes: tuple[PostgresStore, PostgresStore],
) -> None:
    # Given 60 messages of 5 patients routed to an ordered destination, two routes each
    a, b = nodes
    pairs = [("platform", "bundle"), ("platform", "notify")]
    expected: dict[str, list[tuple[int, str]]] = {}
    for i in range(30):
        patient = f"P{i % 5}"
        env = envelope(patient, i)
        await a.accept(env)
        await a.start_processing(env.id)
        outcome = RoutingOutcome(MessageState.ROUTED, "r", pairs, {"platform": patient})
        await a.finish_routing(env.id, outcome)
        expected.setdefault(patient, []).extend([(i, "bundle"), (i, "notify")])
    sent: dict[str, list[tuple[int, str]]] = {}
    in_flight: dict[str, str] = {}
    overlaps: list[str] = []

    async def node(store: Store, owner: str) -> None:
        idle = 0
        while idle < 3:
            work = await store.runnable(utcnow())
            random.shuffle(work.deliveries)
            idle = idle + 1 if not work.deliveries else 0
            for delivery_id, _ in work.deliveries:
                d = await store.claim_delivery(delivery_id, owner=owner, lease=600)
                if d is None or await store.order_blocker(d) is not None:
                    continue
                assert d.order_key is not None
                if d.order_key in in_flight:
                    overlaps.append(f"{owner} and {in_flight[d.order_key]} on {d.order_key}")
                in_flight[d.order_key] = owner
                await asyncio.sleep(0.001)  # the send
                n = int((await store.get_message(d.message_id)).envelope.metadata["test.n"])
                sent.setdefault(d.order_key, []).append((n, d.route))
                del in_flight[d.order_key]
                await store.record_attempt(d.id, DeliveryState.SENT, "ok")
            await asyncio.sleep(0.01)

    # When two nodes deliver concurrently
    await asyncio.wait_for(asyncio.gather(node(a, "a:1"), node(b, "b:2")), timeout=120)
    # Then every delivery went once, one at a time per patient, in order (route order within)
    assert overlaps == []
    assert sent == expected


async def test_nodes_with_different_names_share_the_database(pg_dsn: str) -> None:
    first, second = PostgresStore(pg_dsn, min_size=1), PostgresStore(pg_dsn, min_size=1)
    await first.lock_engine("node-a")
    await second.lock_engine("node-b")
    again = PostgresStore(pg_dsn, min_size=1)
    with pytest.raises(StoreLocked, match="another engine runs as node 'node-b'"):
        await again.lock_engine("node-b")
    await first.open()
    await second.open()
    await first.close()
    await second.close()


async def test_routes_yaml_selects_the_postgres_backend(pg_dsn: str) -> None:
    text = (
        "version: 1\n"
        "store: {backend: postgres, dsn: '${PASSERELLE_PG_DSN}', pool: {min_size: 1,"
        " max_size: 3, timeout: 5s}}\n"
    )
    config = load_config_text(text, env={"PASSERELLE_PG_DSN": pg_dsn})
    store = build_store(config)
    assert isinstance(store, PostgresStore) and store.dsn == pg_dsn
    await store.open()
    try:
        env = envelope("P", 1)
        await store.accept(env)
        assert (await store.get_message(env.id)).state is MessageState.RECEIVED
    finally:
        await store.close()


def test_the_postgres_backend_needs_a_dsn() -> None:
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="needs 'dsn'"):
        load_config_text("version: 1\nstore: {backend: postgres}\n", env={})


async def test_an_engine_on_postgres_delivers_each_patient_in_order_and_replays(
    pg_dsn: str,
) -> None:
    from engine.app import Engine
    from engine.queue.ordering import OrderingRule
    from engine.router import CompiledRoute, Router
    from tests.engine.test_ordering import FAST, Recorder, accept, all_sent, wait_for

    dest = Recorder()
    dest.transient = {"P1-2": 2}  # retries in the middle of a patient's stream
    dest.refuse = {"P0-5"}
    engine = Engine(
        store=PostgresStore(pg_dsn, min_size=1, max_size=6),
        router=Router([CompiledRoute("all", None, (), (dest.name,))]),
        destinations={dest.name: dest},
        default_policy=FAST,
        orderings={dest.name: OrderingRule("patient", "continue")},
        workers=8,
        poll_interval=0.05,
        shutdown_grace=0.5,
        node="node-a",
    )
    operator = PostgresStore(pg_dsn, min_size=1)  # the CLI, from another process
    await engine.start()
    await operator.open()
    try:
        envs = [await accept(engine, f"P{p}-{i}", f"IPP{p}") for i in range(6) for p in range(3)]
        refused = next(e for e in envs if e.metadata["hl7.control_id"] == "P0-5")
        await wait_for(lambda: all_sent(engine, [e for e in envs if e is not refused]), 60)
        # the dead letter is replayed by the operator once the peer accepts it
        dest.refuse.clear()
        assert (await operator.request_replay(refused.id)).replayed
        await wait_for(lambda: all_sent(engine, [refused]), 60)
    finally:
        await operator.close()
        await engine.stop()
    for p in range(3):  # P0-5 was refused, then replayed after the others of P0
        assert dest.of(f"P{p}-") == [f"P{p}-{i}" for i in range(6)]


async def test_a_deadlock_victim_transaction_runs_again(
    nodes: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = nodes
    first, second = envelope("P", 1), envelope("P", 2)
    await a.accept(first)
    await a.accept(second)
    both_hold_one = asyncio.Barrier(2)
    runs: list[str] = []

    def crossing(one: str, other: str, name: str):  # type: ignore[no-untyped-def]
        async def op(conn):  # type: ignore[no-untyped-def]
            runs.append(name)
            await conn.execute("SELECT 1 FROM messages WHERE id=%s FOR UPDATE", (one,))
            if runs.count(name) == 1:
                await both_hold_one.wait()
            await conn.execute("SELECT 1 FROM messages WHERE id=%s FOR UPDATE", (other,))
            return name

        return op

    # two nodes lock the same two rows in opposite orders: PostgreSQL aborts one
    done = await asyncio.wait_for(
        asyncio.gather(
            a._tx(crossing(first.id, second.id, "a")), b._tx(crossing(second.id, first.id, "b"))
        ),
        timeout=60,
    )
    assert done == ["a", "b"]
    assert len(runs) == 3  # the victim ran twice
