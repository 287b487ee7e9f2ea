"""Console queries on a large SQLite store: paging, patient search, overview, activity.

Fills a store with N synthetic messages (default 10⁶) spread over the last 7 days, with
their deliveries, attempts and patient keys, by bulk SQL into the engine's own schema
(the counters are kept by the schema's triggers, as in production), then times each
console query through :class:`~engine.store.sqlite.SqliteStore`: the best and the
median of several runs, warm cache. Figures, never tests: nothing asserts a time.

    .venv/bin/python -m bench.console [--messages 1000000] [--db /tmp/console.db]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.message import DeliveryState, MessageState
from engine.patient_index import PatientIdKind, patient_key
from engine.store.base import MessageQuery
from engine.store.sqlite import SqliteStore

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHANNELS = [f"adt_site{n}" for n in range(6)] + ["orders", "results"]
SECRET = b"bench-secret"
DAYS = 7
RAW = (b"MSH|^~\\&|SIH|SITE|EAI|SITE|20260301||ADT^A01|%d|P|2.5\rPID|1||" + b"X" * 600) + b"\r"


def ulid(ms: int, n: int) -> str:
    value = (ms << 80) | n
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def pick_state(r: float) -> str:
    for bound, state in ((0.01, "error"), (0.015, "rejected"), (0.025, "filtered"),
                         (0.03, "unmatched"), (0.0302, "received")):  # fmt: skip
        if r < bound:
            return state
    return "routed"


def fill(db: Path, count: int, patients: int) -> float:
    """Bulk-insert ``count`` messages; returns the seconds it took."""
    store = SqliteStore(db)
    asyncio.run(store.open())
    asyncio.run(store.close())
    rng = random.Random(13)
    start = time.perf_counter()
    now = time.time()
    first = now - DAYS * 86400
    step = (now - first) / count
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -200000")
    chunk = 20_000
    for base in range(0, count, chunk):
        messages, deliveries, attempts, keys = [], [], [], []
        for n in range(base, min(base + chunk, count)):
            at = first + n * step
            mid = ulid(int(at * 1000), n)
            state = pick_state(rng.random())
            channel = CHANNELS[n % len(CHANNELS)]
            reason = {"error": "E_ROUTE r1", "rejected": "E_VALIDATION MSH-9"}.get(state, "")
            messages.append((mid, channel, at, "application/hl7-v2", RAW % n, "{}", f"C{n}",
                             state, reason, at + 0.05))  # fmt: skip
            patient = n % patients
            keys.append((patient_key(SECRET, PatientIdKind.IPP, str(patient)), mid))
            keys.append((patient_key(SECRET, PatientIdKind.NDA, f"{patient}-{n % 3}"), mid))
            if state != "routed":
                continue
            destination, route = ("lab", "to_lab") if n % 2 else ("dmp", "to_dmp")
            r = rng.random()
            d_state = "dead" if r < 0.002 else "pending" if r < 0.003 else "sent"
            did = f"D{mid}"
            deliveries.append((did, mid, destination, route, d_state, at + 0.05, at + 0.1,
                               0 if d_state == "pending" else 1))  # fmt: skip
            if d_state != "pending":
                attempts.append((did, 1, at + 0.1, d_state, "AA" if d_state == "sent" else "E"))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO messages (id, channel, received_at, content_type, raw, metadata,"
            " control_id, state, reason, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            messages,
        )
        conn.executemany(
            "INSERT INTO deliveries (id, message_id, destination, route, state, created_at,"
            " updated_at, attempts) VALUES (?,?,?,?,?,?,?,?)",
            deliveries,
        )
        conn.executemany(
            "INSERT INTO attempts (delivery_id, number, at, outcome, detail) VALUES (?,?,?,?,?)",
            attempts,
        )
        conn.executemany("INSERT OR IGNORE INTO patient_keys VALUES (?,?)", keys)
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - start


async def timed(call: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, float, int]:
    """(best ms, median ms, size of the answer) over ``runs`` calls after one warm-up."""
    answer = await call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    size = len(answer) if hasattr(answer, "__len__") else 1
    return min(times), statistics.median(times), size


async def measure(db: Path, count: int, runs: int) -> dict[str, tuple[float, float, int]]:
    store = SqliteStore(db)
    await store.open()
    try:
        ids = await store.message_ids(MessageQuery(limit=None, channel=CHANNELS[0]))
        deep = ids[len(ids) // 10]  # 90 % of the channel is newer: a deep page
        all_deep = (await store.list_messages(MessageQuery(limit=1, before_id=deep)))[0]
        now = datetime.now(UTC)
        alice = patient_key(SECRET, PatientIdKind.IPP, "4242")
        error = MessageState.ERROR
        cases: dict[str, Callable[[], Awaitable[Any]]] = {
            "first page (50)": lambda: store.list_messages(MessageQuery()),
            "deep page, before_id (90 % down)": lambda: store.list_messages(
                MessageQuery(before_id=all_deep.envelope.id)
            ),
            "channel, first page": lambda: store.list_messages(MessageQuery(channel=CHANNELS[1])),
            "channel, deep page": lambda: store.list_messages(
                MessageQuery(channel=CHANNELS[0], before_id=deep)
            ),
            "state=error, first page": lambda: store.list_messages(MessageQuery(state=error)),
            "channel + state=error": lambda: store.list_messages(
                MessageQuery(channel=CHANNELS[2], state=error)
            ),
            "tenant scope (3 channels)": lambda: store.list_messages(
                MessageQuery(channels=tuple(CHANNELS[:3]))
            ),
            "tenant scope, deep page": lambda: store.list_messages(
                MessageQuery(channels=tuple(CHANNELS[:3]), before_id=deep)
            ),
            "patient search (IPP)": lambda: store.list_messages(MessageQuery(patient_key=alice)),
            "patient search + tenant scope": lambda: store.list_messages(
                MessageQuery(patient_key=alice, channels=tuple(CHANNELS[:3]))
            ),
            "route filter": lambda: store.list_messages(MessageQuery(route="to_lab")),
            "since 1 h": lambda: store.list_messages(
                MessageQuery(since=now - timedelta(hours=1), limit=200)
            ),
            "delivery_state=dead (0.2 %)": lambda: store.list_messages(
                MessageQuery(delivery_state=DeliveryState.DEAD)
            ),
            "channel_summaries": store.channel_summaries,
            "destination_summaries": store.destination_summaries,
            "route_counts": store.route_counts,
            "count_by_state": store.count_by_state,
            "activity 1 h / 60 s": lambda: store.activity(now - timedelta(hours=1), 60),
            "activity 24 h / 900 s": lambda: store.activity(now - timedelta(hours=24), 900),
            "attempt_payload_usage": store.attempt_payload_usage,
        }
        return {name: await timed(call, runs) for name, call in cases.items()}
    finally:
        await store.close()


CONSOLE_OBJECTS = [
    *(f"TRIGGER {t}_{op}" for t in ("channel_counts", "destination_counts", "route_counts",
                                     "payload_usage", "activity_message")
      for op in ("insert", "update", "delete")),
    "TRIGGER activity_attempt_insert",
    *(f"INDEX {i}" for i in ("messages_state", "messages_channel_state", "deliveries_state",
                             "attempts_at", "attempt_payloads_at")),
]  # fmt: skip


async def write_rate(db: Path, count: int, bare: bool) -> float:
    """Messages per second through accept, routing and one sent attempt (8 concurrent
    flows, ``synchronous=normal``); ``bare`` drops the console's triggers and indexes."""
    from engine.message import HL7V2, Envelope
    from engine.store.base import RoutingOutcome

    store = SqliteStore(db, synchronous="normal")
    await store.open()
    if bare:
        with sqlite3.connect(db) as conn:
            for obj in CONSOLE_OBJECTS:
                conn.execute(f"DROP {obj}")

    async def flow(k: int) -> None:
        for n in range(k, count, 8):
            env = Envelope.new(channel=CHANNELS[n % 8], raw=RAW % n, content_type=HL7V2)
            await store.accept(env)
            await store.start_processing(env.id)
            await store.add_patient_keys(env.id, [patient_key(SECRET, PatientIdKind.IPP, str(n))])
            outcome = RoutingOutcome(MessageState.ROUTED, "r", [("lab", "to_lab")])
            (d,) = await store.finish_routing(env.id, outcome)
            await store.record_attempt(d.id, DeliveryState.SENT, "AA", response=b"MSA|AA")

    start = time.perf_counter()
    await asyncio.gather(*(flow(k) for k in range(8)))
    elapsed = time.perf_counter() - start
    await store.close()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", type=Path, default=Path("/tmp/passerelle-bench-console.db"))
    parser.add_argument("--reuse", action="store_true", help="keep an existing filled --db")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--write-messages", type=int, default=3000,
                        help="messages of the write-cost figure (0: skip it)")  # fmt: skip
    args = parser.parse_args()
    fill_s = None
    if not (args.reuse and args.db.exists()):
        for suffix in ("", "-wal", "-shm", ".lock"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
        fill_s = fill(args.db, args.messages, args.patients)
    figures = asyncio.run(measure(args.db, args.messages, args.runs))
    size_mb = args.db.stat().st_size / 1e6
    print(f"{args.messages} messages, store {size_mb:.0f} MB" +
          (f", filled in {fill_s:.0f} s" if fill_s else ""))  # fmt: skip
    print(f"{'query':40} {'best ms':>9} {'median ms':>10} {'rows':>6}")
    for name, (best, median, rows) in figures.items():
        print(f"{name:40} {best:9.2f} {median:10.2f} {rows:6}")
    rates: dict[str, float] = {}
    if args.write_messages:
        for bare in (True, False, True, False):  # interleaved: the machine is shared
            db = args.db.with_name(f"write-{int(bare)}-{time.monotonic_ns()}.db")
            rate = asyncio.run(write_rate(db, args.write_messages, bare))
            key = "without console triggers/indexes" if bare else "schema 7 (as shipped)"
            rates[key] = max(rates.get(key, 0.0), rate)
            for suffix in ("", "-wal", "-shm", ".lock"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        for key, rate in rates.items():
            print(f"write path, {key}: {rate:.0f} msg/s (best of 2)")
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"messages": args.messages, "store_mb": size_mb, "fill_s": fill_s,
              "write_msg_per_s": rates,
              "figures": {k: {"best_ms": b, "median_ms": m, "rows": r}
                          for k, (b, m, r) in figures.items()}}  # fmt: skip
    (args.out / f"console-{int(time.time())}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
