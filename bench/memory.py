"""Memory: the engine's RSS once started on a store already holding many messages."""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.load import message
from bench.processes import free_port, rss_mb, start_engine, stop
from engine.message import new_id


def _preload(db: Path, count: int) -> float:
    """Write ``count`` finished (routed, delivered) messages straight into the schema."""
    import asyncio

    from engine.store.sqlite import SqliteStore

    store = SqliteStore(db)
    asyncio.run(store.open())
    asyncio.run(store.close())
    start = time.perf_counter()
    now = time.time()
    with sqlite3.connect(db) as conn:
        rows = []
        for n in range(count):
            mid = new_id()
            rows.append(
                (
                    mid,
                    "mllp_in",
                    now,
                    "application/hl7-v2",
                    message(n, "S"),
                    json.dumps({"hl7.control_id": f"S-{n}"}),
                    f"S-{n}",
                    "routed",
                    "",
                    now,
                )
            )
        conn.executemany(
            "INSERT INTO messages (id, channel, received_at, content_type, raw, metadata,"
            " control_id, state, reason, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    return time.perf_counter() - start


def run(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="passerelle-mem-") as tmp:
        home = Path(tmp) / "engine"
        home.mkdir()
        seconds = _preload(home / "store.db", count)
        port = free_port()
        engine = start_engine(home, port)
        try:
            time.sleep(1.0)
            rss, peak = rss_mb(engine.pid)
        finally:
            stop(engine)
        size = (home / "store.db").stat().st_size / 1e6
    return {
        f"engine RSS with {count} stored messages (MB)": round(rss, 1),
        f"engine peak RSS at start, {count} stored (MB)": round(peak, 1),
        "store file size (MB)": round(size, 1),
        "preload seconds": round(seconds, 1),
    }


__all__ = ["run"]
