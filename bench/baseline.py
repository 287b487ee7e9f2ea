"""The practical limit: a minimal asyncio MLLP server that commits each frame to SQLite.

Same durability as the engine's default store (WAL, ``synchronous=FULL``), one INSERT and
one COMMIT per frame in a worker thread, then a fixed AA. No parsing, routing or
workers: what any correct "ack after commit" server must at least pay on this machine.

Run: ``python -m bench.baseline PORT DB`` (prints ``ready`` once listening).
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading

from bench.sink import serve_mllp

ACK = b"MSH|^~\\&|BASE||||20260101000000||ACK|1|P|2.5\rMSA|AA|1\r"


class Committer:
    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS m (id INTEGER PRIMARY KEY, raw BLOB)")
        self.lock = threading.Lock()

    def commit(self, frame: bytes) -> None:
        with self.lock:
            self.conn.execute("BEGIN")
            self.conn.execute("INSERT INTO m (raw) VALUES (?)", (frame,))
            self.conn.execute("COMMIT")


async def serve(port: int, path: str) -> None:
    committer = Committer(path)

    async def commit_then_ack(frame: bytes) -> bytes:
        await asyncio.to_thread(committer.commit, frame)
        return ACK

    await serve_mllp(port, commit_then_ack)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2]))
