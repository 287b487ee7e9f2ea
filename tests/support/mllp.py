"""A minimal MLLP client for tests: send a frame, read the ACK frame."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from types import TracebackType

from channels.mllp.framing import FrameDecoder, encode_frame


class MllpPeer:
    """One client connection. ``exchange`` sends a message and returns its ACK payload."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.context = host, port, context
        self._decoder = FrameDecoder(1 << 20)
        self._frames: list[bytes] = []

    async def __aenter__(self) -> MllpPeer:
        self.reader, self.writer = await asyncio.open_connection(
            self.host, self.port, ssl=self.context
        )
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()

    async def send(self, payload: bytes) -> None:
        self.writer.write(encode_frame(payload))
        await self.writer.drain()

    async def read_ack(self, timeout: float = 10.0) -> bytes:
        while not self._frames:
            chunk = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not chunk:
                raise ConnectionError("connection closed before an ACK")
            self._frames.extend(self._decoder.feed(chunk))
        return self._frames.pop(0)

    async def exchange(self, payload: bytes, timeout: float = 10.0) -> bytes:
        await self.send(payload)
        return await self.read_ack(timeout)


def msa(ack: bytes) -> list[str]:
    """The MSA segment's fields: ``["MSA", code, control id, ...]``."""
    for segment in ack.split(b"\r"):
        if segment.startswith(b"MSA"):
            return segment.decode("utf-8", "replace").split("|")
    raise AssertionError(f"no MSA segment in {ack!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def adt(control_id: str, *, event: str = "A01", pid: str = "PID|1||123^^^CHU^PI") -> bytes:
    return (
        f"MSH|^~\\&|GAM|CHU-EXEMPLE|PASSERELLE|GRADES|20261120093012||ADT^{event}^ADT_A01|"
        f"{control_id}|P|2.5^FRA^2.11|||||FRA|UNICODE UTF-8\r"
        f"EVN||20261120093012\r{pid}\rPV1|1|I\r"
    ).encode()
