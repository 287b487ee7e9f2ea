"""PostgreSQL-only points of the console's store: counters folded without hot rows and
exact across nodes, migration with backfill, query plans, the append-only audit under
concurrency, the lease across nodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import psycopg
import pytest

from engine.errors import StoreError
from engine.message import HL7V2, DeliveryState, Envelope, MessageState, utcnow
from engine.store import _pg_schema as schema
from engine.store import _pg_summaries as pg_summaries
from engine.store._pg_ops import Conn
from engine.store._pg_search import search_sql
from engine.store.base import MessageQuery, RoutingOutcome
from engine.store.console import AuditEntry, AuditQuery
from engine.store.postgres import PostgresStore
from tests.support.postgres import pg_dsn

__all__ = ["pg_dsn"]

ROUTE = [("platform", "bundle"), ("archive", "copy")]


def envelope(channel: str, n: int) -> Envelope:
    return Envelope.new(channel=channel, raw=f"MSH|{n}".encode(), content_type=HL7V2)


@pytest.fixture
async def nodes(pg_dsn: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one database: what two engine nodes see."""
    a, b = PostgresStore(pg_dsn, min_size=1, max_size=4), PostgresStore(pg_dsn, max_size=4)
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


async def flow(store: PostgresStore, channel: str, n: int) -> None:
    """One message through the pipeline: every 5th rejected, every 7th in error, the
    others routed to two destinations; platform fails once then sends, archive dies."""
    env = envelope(channel, n)
    if n % 5 == 0:
        await store.reject(env, f"rejected {n}")
        return
    await store.accept(env)
    await store.start_processing(env.id, owner=f"{channel}:1")
    if n % 7 == 0:
        await store.fail_message(env.id, f"error {n}")
        return
    for d in await store.finish_routing(env.id, RoutingOutcome(MessageState.ROUTED, "r", ROUTE)):
        if d.destination == "platform":
            later = utcnow() + timedelta(seconds=1)
            await store.record_attempt(d.id, DeliveryState.RETRYING, "503", next_attempt_at=later)
            await store.record_attempt(d.id, DeliveryState.SENT, "ok", sent=b"x" * 10)
        else:
            await store.record_attempt(d.id, DeliveryState.DEAD, "refused 400")


async def truth(dsn: str) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Per channel and per destination, counts by scanning the tables."""
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        found: list[dict[str, dict[str, int]]] = [{}, {}]
        for i, sql in enumerate(
            (
                "SELECT channel, state, count(*) FROM messages GROUP BY 1, 2",
                "SELECT destination, state, count(*) FROM deliveries GROUP BY 1, 2",
            )
        ):
            for name, state, n in await (await conn.execute(sql)).fetchall():
                found[i].setdefault(name, {})[state] = n
    return found[0], found[1]


async def summaries(store: PostgresStore) -> tuple[dict[str, dict[str, int]], ...]:
    channels = {s.channel: {k.value: n for k, n in s.counts.items()} for s in
                await store.channel_summaries()}  # fmt: skip
    destinations = {s.destination: {k.value: n for k, n in s.counts.items()} for s in
                    await store.destination_summaries()}  # fmt: skip
    return channels, destinations


async def pending_deltas(dsn: str) -> int:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        row = await (await conn.execute("SELECT count(*) FROM console_deltas")).fetchone()
        assert row is not None
        return int(row[0])


async def test_two_nodes_folding_while_writing_lose_no_count(
    nodes: tuple[PostgresStore, PostgresStore], pg_dsn: str
) -> None:
    # Given two nodes writing messages of two channels while both fold repeatedly
    a, b = nodes
    done = asyncio.Event()

    async def folder(store: PostgresStore) -> int:
        folded = 0
        while not done.is_set():
            folded += await store.fold_counters()
            await asyncio.sleep(0.005)
        return folded

    folders = [asyncio.create_task(folder(s)) for s in (a, b)]
    await asyncio.gather(*(flow(s, f"in-{s is a}", n) for n in range(1, 41) for s in (a, b)))
    done.set()
    folded = sum(await asyncio.gather(*folders))
    # Then the counters equal a scan of the tables, read from either node
    expected = await truth(pg_dsn)
    assert await summaries(a) == expected == await summaries(b)
    assert folded > 0 and await pending_deltas(pg_dsn) == 0  # the read folded the rest
    assert await a.route_counts() == {"bundle": 56, "copy": 56}


async def test_summaries_give_backlog_age_and_last_errors(pg_dsn: str) -> None:
    store = PostgresStore(pg_dsn, min_size=1)
    await store.open()
    try:
        for n in range(1, 15):
            await flow(store, "adt", n)
        waiting = envelope("adt", 99)
        await store.accept(waiting)
        (channel,) = await store.channel_summaries()
        assert channel.oldest_waiting_at == waiting.received_at
        assert channel.last_received_at == waiting.received_at
        assert channel.last_error == "error 14"  # the newest message in error or rejected
        assert channel.counts[MessageState.REJECTED] == 2
        archive, platform = await store.destination_summaries()
        assert (archive.last_error, archive.last_sent_at) == ("refused 400", None)
        assert platform.last_error == "503" and platform.last_sent_at is not None
        assert platform.last_error_at is not None and platform.last_sent_at > platform.last_error_at
        assert platform.oldest_waiting_at is None
        # the same figures once the deltas are folded
        assert await summaries(store) == await truth(pg_dsn)
        assert (await store.destination_summaries())[0] == archive
    finally:
        await store.close()


async def test_activity_counts_per_bucket_with_latency(pg_dsn: str) -> None:
    store = PostgresStore(pg_dsn, min_size=1)
    await store.open()
    try:
        start = utcnow()
        for n in range(1, 8):
            await flow(store, "adt", n)
        since = start - timedelta(hours=1)
        unfolded = await store._tx(lambda c: pg_summaries.activity(c, since, 3600))
        buckets = await store.activity(since, 3600)
        assert buckets == unfolded  # folded or not, the same figures
        by_name = {(b.kind, b.name): b for b in buckets if b.start <= start}
        late = [b for b in buckets if b.start > start]  # the hour may turn meanwhile
        ok = sum(b.ok for b in buckets if b.name == "adt")
        assert ok == 7 and sum(b.failed for b in buckets if b.name == "adt") == 2
        sent = sum(b.ok for b in buckets if b.name == "platform")
        failed = sum(b.failed for b in buckets if b.name == "platform")
        assert (sent, failed) == (5, 5)
        assert sum(b.failed for b in buckets if b.name == "archive") == 5
        assert all(b.latency_sum >= 0 for b in buckets)
        assert sum(b.latency_sum for b in buckets if b.name == "platform") > 0
        assert all(b.start.timestamp() % 3600 == 0 for b in buckets)
        assert by_name or late
    finally:
        await store.close()


async def test_an_old_database_is_migrated_with_its_counters_backfilled(pg_dsn: str) -> None:
    # Given a database at schema 4 with messages, deliveries and attempts
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await conn.execute("CREATE TABLE schema_version (version integer NOT NULL)")
        for step in schema.MIGRATIONS[:4]:
            for statement in step:
                await conn.execute(statement)
        await conn.execute("INSERT INTO schema_version VALUES (4)")
    old = schema.MIGRATIONS
    schema.MIGRATIONS = old[:4]
    schema.SCHEMA_VERSION = 4
    try:
        store = PostgresStore(pg_dsn, min_size=1)
        await store.open()
        for n in range(1, 15):
            await flow(store, "adt", n)
        await store.close()
    finally:
        schema.MIGRATIONS, schema.SCHEMA_VERSION = old, len(old)
    expected = await truth(pg_dsn)
    # When the engine of schema 5 opens it
    store = PostgresStore(pg_dsn, min_size=1)
    await store.open()
    try:
        # Then the counters were backfilled and go on from there
        assert await summaries(store) == expected
        await flow(store, "adt", 15)
        assert await summaries(store) == await truth(pg_dsn)
        platform = (await store.destination_summaries())[1]
        assert platform.last_error == "503" and platform.last_sent_at is not None
        usage, oldest = await store.attempt_payload_usage()
        assert usage == 10 * 10 and oldest is not None
        assert await store.route_counts() == {"bundle": 10, "copy": 10}
    finally:
        await store.close()


async def plan(store: PostgresStore, query: MessageQuery) -> str:
    sql, args = search_sql(query, True)

    async def explain(c: Conn) -> str:
        rows = await (await c.execute("EXPLAIN " + sql, args)).fetchall()
        return "\n".join(str(r[0]) for r in rows)

    return await store._read(explain)


async def test_searches_use_indexes(pg_dsn: str) -> None:
    store = PostgresStore(pg_dsn, min_size=1)
    await store.open()
    try:
        rows = [(f"0{n:025d}", f"ch{n % 20}") for n in range(20000)]
        async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
            async with conn.cursor().copy(
                "COPY messages (id, channel, received_at, content_type, raw, metadata, state,"
                " updated_at) FROM STDIN"
            ) as copy:
                for id_, channel in rows:
                    now = utcnow()
                    await copy.write_row((id_, channel, now, HL7V2, b"x", "{}", "routed", now))
            await conn.execute(
                "INSERT INTO patient_keys SELECT decode(md5(id), 'hex'), id FROM messages"
            )
            await conn.execute(
                "INSERT INTO deliveries (id, message_id, destination, route, state, created_at,"
                " updated_at) SELECT 'd' || id, id, 'platform', CASE WHEN random() < 0.01"
                " THEN 'bundle' ELSE 'copy' END, 'sent', now(), now() FROM messages"
            )
            await conn.execute("ANALYZE")
        key = bytes.fromhex("00" * 16)
        assert "patient_keys_pkey" in await plan(store, MessageQuery(patient_key=key))
        scoped = MessageQuery(channels=("ch1", "ch2"), before_id=rows[5000][0], patient_key=key)
        assert "patient_keys_pkey" in await plan(store, scoped)
        assert "messages_pkey" in await plan(store, MessageQuery(before_id=rows[100][0]))
        assert "messages_state" in await plan(store, MessageQuery(state=MessageState.ERROR))
        route = await plan(store, MessageQuery(route="bundle"))
        assert "deliveries_route" in route or "deliveries_message_id_route_destination_key" in route
        for query in (MessageQuery(patient_key=key), MessageQuery(route="bundle")):
            assert "Seq Scan on messages" not in await plan(store, query)
    finally:
        await store.close()


async def test_the_audit_is_append_only_with_increasing_ids_across_nodes(
    nodes: tuple[PostgresStore, PostgresStore], pg_dsn: str
) -> None:
    a, b = nodes

    async def append(store: PostgresStore, n: int) -> int:
        entry = AuditEntry(utcnow(), f"user{n}", "replay", f"msg{n}", "ok", client="127.0.0.1")
        return await store.append_audit(entry)

    ids = await asyncio.gather(*(append(s, n) for n in range(30) for s in (a, b)))
    assert len(set(ids)) == 60
    listed = await a.audit_entries(AuditQuery(limit=None))
    assert [e.id for e in listed] == sorted(ids, reverse=True)
    page = await b.audit_entries(AuditQuery(before_id=listed[9].id, limit=5))
    assert [e.id for e in page] == [e.id for e in listed[10:15]]
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        for sql in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit", "TRUNCATE audit"):
            with pytest.raises(psycopg.Error, match="append-only"):
                await conn.execute(sql)
    assert len(await a.audit_entries(AuditQuery(limit=None))) == 60


async def test_one_lease_holder_among_nodes(nodes: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = nodes
    pairs = ((a, "a"), (b, "b"))
    won = await asyncio.gather(*(s.acquire_lease("alerts", o, 0.5) for s, o in pairs))
    assert sorted(won) == [False, True]
    holder, other = ((a, "a"), (b, "b")) if won[0] else ((b, "b"), (a, "a"))
    assert await holder[0].acquire_lease("alerts", holder[1], 0.5)  # renewal
    assert not await other[0].acquire_lease("alerts", other[1], 0.5)
    assert await other[0].acquire_lease("other", other[1], 0.5)  # another name is free
    await asyncio.sleep(0.6)  # the holder stopped renewing
    assert await other[0].acquire_lease("alerts", other[1], 30)
    assert not await holder[0].acquire_lease("alerts", holder[1], 30)


async def test_attempt_payloads_are_purged_oldest_first_within_the_budget(pg_dsn: str) -> None:
    store = PostgresStore(pg_dsn, min_size=1)
    await store.open()
    try:
        for n in range(1, 9):
            await flow(store, "adt", n)  # 6 messages routed: 6 payloads of 10 bytes
        assert (await store.attempt_payload_usage())[0] == 60
        assert await store.purge_attempt_payloads(before=None, max_bytes=None) == 0
        assert await store.purge_attempt_payloads(before=None, max_bytes=25) == 4
        assert (await store.attempt_payload_usage())[0] == 20
        assert await store.purge_attempt_payloads(before=utcnow(), max_bytes=None, limit=1) == 1
        assert await store.purge_attempt_payloads(before=utcnow(), max_bytes=None) == 1
        assert await store.attempt_payload_usage() == (0, None)
    finally:
        await store.close()


async def test_a_closed_store_refuses_console_calls(pg_dsn: str) -> None:
    store = PostgresStore(pg_dsn, min_size=1)
    with pytest.raises(StoreError, match="closed"):
        await store.channel_summaries()
