"""Engines as real processes for topology tests: a recording MLLP peer, senders, nodes.

:class:`RecordingPeer` is the destination side: a real MLLP server in the test process
that records every frame it accepts (control id, connection) and answers AA, or AR with
ERR 207 (retryable: the engine resends) or AE (refused: dead letter) as told.
:class:`Node` is one ``passerelle run`` process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from channels.mllp.framing import FrameDecoder, encode_frame
from engine.assembly import build_store
from engine.config.loader import load_config
from engine.formats.hl7v2 import read_header
from engine.store.base import DeliveryRecord, MessageQuery
from tests.support.engine_process import wait_listening
from tests.support.mllp import MllpPeer, msa


@dataclass
class RecordingPeer:
    """Accepted frames in arrival order: ``(control id, connection number)``."""

    accepted: list[tuple[str, int]] = field(default_factory=list)
    transient: dict[str, int] = field(default_factory=dict)
    """control id -> how many more times to answer AR + ERR 207 (resend later)."""
    refuse: set[str] = field(default_factory=set)
    """control ids answered AE (refused) until removed."""
    delay: float = 0.0
    """seconds before each answer (a slow peer: sends stay in flight)."""
    port: int = 0
    _server: asyncio.Server | None = None
    _connections: int = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        connection = self._connections
        decoder = FrameDecoder(1 << 20)
        try:
            while chunk := await reader.read(65536):
                for frame in decoder.feed(chunk):
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    writer.write(encode_frame(self._answer(frame, connection)))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _answer(self, frame: bytes, connection: int) -> bytes:
        control_id = read_header(frame).control_id
        code, err = "AA", ""
        if self.transient.get(control_id, 0) > 0:
            self.transient[control_id] -= 1
            code, err = "AR", "\rERR||MSH^1^10|207^Application internal error^HL70357|E"
        elif control_id in self.refuse:
            code, err = "AE", "\rERR||PID^1^3|204^Unknown key identifier^HL70357|E"
        else:
            self.accepted.append((control_id, connection))
        return (
            f"MSH|^~\\&|PEER|X|PASSERELLE|GRADES|20260101000000||ACK|A{control_id}|P|2.5\r"
            f"MSA|{code}|{control_id}{err}\r"
        ).encode()

    def order(self, prefix: str) -> list[str]:
        return [c for c, _ in self.accepted if c.startswith(prefix)]


_RUN = (sys.executable, "-m", "engine.cli", "--log-format", "json", "run", "-c")


class Node:
    """One ``passerelle run -c config`` process, in its own process group (with its
    worker processes, if any)."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Node:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*_RUN, str(self.config)],
                stdout=out,
                stderr=out,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        wait_listening(self.port, self.proc, self.log, timeout=60)
        return self

    def workers_ready(self) -> int:
        """How many worker processes have said they started (JSON log lines)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text.count('"role": "worker"')

    def kill(self) -> None:
        """SIGKILL the whole node at once: the engine and its worker processes."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)

    def stop(self) -> int:
        """SIGTERM and wait; the exit code (0 for a clean stop)."""
        if self.proc is None or self.proc.poll() is not None:
            return 0 if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


async def send_in_order(
    port: int, messages: list[tuple[str, bytes]], acked: set[str], timeout: float = 20.0
) -> None:
    """Send on one connection, one at a time, as an MLLP sender does; note each AA."""
    async with MllpPeer("127.0.0.1", port) as peer:
        for control_id, raw in messages:
            ack = await peer.exchange(raw, timeout=timeout)
            assert msa(ack)[1:3] == ["AA", control_id], ack
            acked.add(control_id)


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], timeout: float = 60.0, what: str = ""
) -> None:
    """Wait until ``check()`` is true (polled every 50 ms); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


def delivery_rows(db: Path) -> dict[str, list[tuple[str, int]]]:
    """control id -> [(delivery state, attempts)] from a SQLite store."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT m.control_id, d.state, d.attempts FROM messages m"
            " JOIN deliveries d ON d.message_id = m.id"
        ).fetchall()
    out: dict[str, list[tuple[str, int]]] = {}
    for control_id, state, attempts in rows:
        out.setdefault(control_id, []).append((state, attempts))
    return out


async def deliveries_by_control_id(config: Path) -> dict[str, list[list[DeliveryRecord]]]:
    """control id -> one list of deliveries per stored message with that MSH-10, read
    through the store the configuration names (any backend; no engine lock taken)."""
    store = build_store(load_config(config))
    await store.open()
    try:
        out: dict[str, list[list[DeliveryRecord]]] = {}
        for stored in await store.list_messages(MessageQuery(limit=None)):
            control_id = stored.envelope.metadata.get("hl7.control_id", "")
            out.setdefault(control_id, []).append(await store.deliveries(stored.envelope.id))
        return out
    finally:
        await store.close()


__all__ = [
    "Node",
    "RecordingPeer",
    "deliveries_by_control_id",
    "delivery_rows",
    "eventually",
    "send_in_order",
]
