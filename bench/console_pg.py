"""``python -m bench.console_pg``: the console's store queries on PostgreSQL at 10⁶ messages.

A throw-away server (the tests' helper, ``fsync=off``) gets a store at the current schema,
then COPY loads N messages spread over 7 days in 20 channels (90 % routed, 5 % filtered,
3 % rejected, 2 % in error), one delivery and one attempt per routed message (1 % dead),
two patient keys per message (IPP and NDA of 50,000 patients) — the counter triggers fire
as in production, then the deltas are folded. Each console query then runs ``--runs``
times; the median and the worst are reported (milliseconds).

First, the write cost of the counter triggers (fresh databases, disabled then enabled):
store calls per message one at a time (µs, best of 3), and two nodes taking messages
through the pipeline 32 at a time (msg/s). Synthetic content only: no patient data.

    .venv/bin/python -m bench.console_pg [--messages 1000000] [--runs 7] [--json out.json]
    .venv/bin/python -m bench.console_pg --messages 0      # write cost only
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from engine.message import HL7V2, DeliveryState, Envelope, MessageState
from engine.store.base import MessageQuery, RoutingOutcome
from engine.store.postgres import PostgresStore
from tests.support.postgres import start_postgres

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
DEAD = DeliveryState.DEAD
CHANNELS = [f"ch{n:02d}" for n in range(20)]
PATIENTS = 50_000


def ulid(ms: int, rand: int) -> str:
    value = (ms << 80) | rand
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def patient(kind: bytes, n: int) -> bytes:
    """A 17-byte key shaped like :func:`engine.patient_index.patient_key` (synthetic)."""
    return kind + hashlib.sha256(kind + str(n).encode()).digest()[:16]


def _state(r: float) -> str:
    if r < 0.90:
        return "routed"
    if r < 0.95:
        return "filtered"
    return "rejected" if r < 0.98 else "error"


def load(dsn: str, total: int, now: datetime) -> dict[str, float]:
    """COPY ``total`` messages (and their deliveries, attempts, patient keys)."""
    rng = random.Random(13)
    start_ms = int((now - timedelta(days=7)).timestamp() * 1000)
    step = 7 * 86_400_000 / total
    figures: dict[str, float] = {}
    began = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table, columns in (
            ("messages", "id, channel, received_at, content_type, raw, metadata, state,"
                         " reason, updated_at"),
            ("deliveries", "id, message_id, destination, route, state, attempts, created_at,"
                           " updated_at"),
            ("attempts", "delivery_id, number, at, outcome, detail"),
            ("patient_keys", "key, message_id"),
        ):  # fmt: skip
            rng.seed(13)
            t0 = time.perf_counter()
            with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for i in range(total):
                    ms = int(start_ms + i * step)
                    id_ = ulid(ms, i)
                    at = datetime.fromtimestamp(ms / 1000, UTC)
                    state, who = _state(rng.random()), rng.randrange(PATIENTS)
                    channel = CHANNELS[i % len(CHANNELS)]
                    dead = rng.random() < 0.01
                    if table == "messages":
                        reason = "E_VALIDATION" if state in ("rejected", "error") else ""
                        raw = b"MSH|^~\\&|synthetic"
                        copy.write_row((id_, channel, at, HL7V2, raw, "{}", state, reason, at))
                    elif table == "patient_keys":
                        copy.write_row((patient(b"P", who), id_))
                        copy.write_row((patient(b"A", who), id_))
                    elif state != "routed":
                        continue
                    elif table == "deliveries":
                        route = "bundle" if i % 10 else "copy"
                        copy.write_row((f"D{id_}", id_, f"dest{i % 5}", route,
                                        "dead" if dead else "sent", 1, at, at))  # fmt: skip
                    elif table == "attempts":
                        sent = at + timedelta(milliseconds=40)
                        copy.write_row((f"D{id_}", 1, sent, "dead" if dead else "sent",
                                        "E_PEER 400" if dead else "AA"))  # fmt: skip
            figures[f"copy_{table}_s"] = round(time.perf_counter() - t0, 1)
        conn.execute("ANALYZE")
    figures["load_s"] = round(time.perf_counter() - began, 1)
    return figures


async def timed(fn: Callable[[], Awaitable[Any]], runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2)}


async def measure(dsn: str, total: int, runs: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    store = PostgresStore(dsn, min_size=1, max_size=4)
    await store.open()
    report: dict[str, Any] = {"messages": total}
    try:
        report |= await asyncio.to_thread(load, dsn, total, now)
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT count(*) FROM console_deltas").fetchone()
        report["deltas_after_load"] = int(row[0]) if row else 0
        t0, folded = time.perf_counter(), 0
        while n := await store.fold_counters():
            folded += n
        report["fold_s"] = round(time.perf_counter() - t0, 1)
        report["folded"] = folded
        ids = await store.message_ids(MessageQuery(limit=None, channel="ch03",
                                                   since=now - timedelta(days=3)))  # fmt: skip
        middle = ids[len(ids) // 2]
        key = patient(b"P", 4242)
        three_days, hour = now - timedelta(days=3), timedelta(hours=1)
        queries: dict[str, Callable[[], Awaitable[Any]]] = {
            "channel_summaries": store.channel_summaries,
            "destination_summaries": store.destination_summaries,
            "activity_1h_60s": lambda: store.activity(now - timedelta(hours=1), 60),
            "activity_24h_600s": lambda: store.activity(now - timedelta(hours=24), 600),
            "activity_1h_7s_rows": lambda: store.activity(now - timedelta(hours=1), 7),
            "count_by_state": store.count_by_state,
            "route_counts": store.route_counts,
        }
        searches = {
            "newest_page": MessageQuery(),
            "keyset_page_mid": MessageQuery(before_id=middle),
            "patient_ipp": MessageQuery(patient_key=key),
            "patient_in_scope": MessageQuery(patient_key=key, channels=("ch01", "ch02")),
            "scope_2_channels_keyset": MessageQuery(channels=("ch01", "ch07"), before_id=middle),
            "state_error": MessageQuery(state=MessageState.ERROR),
            "channel_state_rejected": MessageQuery(channel="ch05", state=MessageState.REJECTED),
            "route_copy": MessageQuery(route="copy"),
            "destination_dead": MessageQuery(destination="dest2", delivery_state=DEAD),
            "window_1h_3d_ago": MessageQuery(since=three_days, until=three_days + hour),
            "empty_scope": MessageQuery(channels=()),
        }
        for name, q in searches.items():
            queries[f"list_{name}"] = lambda q=q: store.list_messages(q)  # type: ignore[misc]
        report["queries"] = {name: await timed(fn, runs) for name, fn in queries.items()}
        report["sizes"] = size_report(dsn)
    finally:
        await store.close()
    return report


TRIGGERED = ("messages", "deliveries", "attempts", "attempt_payloads")


async def pipeline(dsn: str, total: int, triggers: bool) -> dict[str, float]:
    """Two nodes (two stores) each take ``total`` messages through intake, routing to two
    destinations and one attempt each, 32 at a time per node: messages per second, with
    the counter triggers or without them (what they cost on the hot path)."""
    nodes = [PostgresStore(dsn, min_size=4, max_size=8) for _ in range(2)]
    for store in nodes:
        await store.open()
    if not triggers:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for table in TRIGGERED:
                conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    pairs = [("platform", "bundle"), ("archive", "copy")]

    async def one(store: PostgresStore, n: int) -> None:
        env = Envelope.new(channel=CHANNELS[n % 4], raw=b"MSH|synthetic", content_type=HL7V2)
        await store.accept(env)
        await store.start_processing(env.id, owner="bench:1")
        outcome = RoutingOutcome(MessageState.ROUTED, "r", pairs)
        for d in await store.finish_routing(env.id, outcome):
            await store.record_attempt(d.id, DeliveryState.SENT, "AA", sent=b"x" * 100)

    async def run(store: PostgresStore) -> None:
        gate = asyncio.Semaphore(32)

        async def gated(n: int) -> None:
            async with gate:
                await one(store, n)

        await asyncio.gather(*(gated(n) for n in range(total)))

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(run(s) for s in nodes))
        seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        folded = await nodes[0].fold_counters() if triggers else 0
        fold_ms = (time.perf_counter() - t1) * 1000
    finally:
        for store in nodes:
            await store.close()
    return {"msg_per_s": round(2 * total / seconds, 1), "folded": folded,
            "fold_ms": round(fold_ms, 1)}  # fmt: skip


async def write_cost(dsn: str, total: int, triggers: bool) -> float:
    """Microseconds of store calls per message (accept, two transitions, two deliveries,
    two attempts with payloads), one message at a time on one store: best of 3 rounds."""
    store = PostgresStore(dsn, min_size=1, max_size=2)
    await store.open()
    if not triggers:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for table in TRIGGERED:
                conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    pairs = [("platform", "bundle"), ("archive", "copy")]
    best = float("inf")
    try:
        for _ in range(3):
            t0 = time.perf_counter()
            for n in range(total):
                env = Envelope.new(channel=CHANNELS[n % 4], raw=b"MSH|x", content_type=HL7V2)
                await store.accept(env)
                await store.start_processing(env.id, owner="bench:1")
                outcome = RoutingOutcome(MessageState.ROUTED, "r", pairs)
                for d in await store.finish_routing(env.id, outcome):
                    await store.record_attempt(d.id, DeliveryState.SENT, "AA", sent=b"x" * 100)
            best = min(best, (time.perf_counter() - t0) / total * 1e6)
            await store.fold_counters()
    finally:
        await store.close()
    return round(best, 1)


def size_report(dsn: str) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        out: dict[str, Any] = {}
        for table in ("console_deltas", "console_counts", "console_activity", "console_last"):
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            out[f"{table}_rows"] = int(row[0]) if row else 0
        row = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
        out["database"] = row[0] if row else ""
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--pipeline", type=int, default=2000, help="messages per node")
    parser.add_argument("--write-messages", type=int, default=500, help="0: no load")
    args = parser.parse_args()
    server = start_postgres(Path(tempfile.mkdtemp(prefix="passerelle-bench-console-")))
    try:
        report: dict[str, Any] = {}
        for triggers in (False, True):
            label = "with" if triggers else "without"
            dsn = server.dsn(server.new_database())
            report[f"write_us_per_message_{label}_triggers"] = asyncio.run(
                write_cost(dsn, args.write_messages, triggers)
            )
        for triggers in (False, True):
            dsn = server.dsn(server.new_database())
            figures = asyncio.run(pipeline(dsn, args.pipeline, triggers))
            report[f"pipeline_{'with' if triggers else 'without'}_triggers"] = figures
        if args.messages == 0:
            report["messages"] = 0
        if args.messages:
            dsn = server.dsn(server.new_database())
            report |= asyncio.run(measure(dsn, args.messages, args.runs))
    finally:
        server.stop()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
