"""Test helpers: an in-memory Intake, HL7 message builders and a raw MLLP test client."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

from channels.mllp.framing import FrameDecoder, encode_frame
from channels.mllp.server import close_writer
from engine.errors import StoreError
from engine.message import Envelope

TIMEOUT = 5.0


def message(control_id: str = "MSG00001", *, msh18: str = "", body: str = "") -> bytes:
    """An ADT^A01 with the given MSH-10 (empty allowed) and optional MSH-18."""
    msh = (
        f"MSH|^~\\&|HIS|CHU-X|PASSERELLE|GRADES|20240305101500||ADT^A01^ADT_A01|{control_id}|P|2.5"
    )
    if msh18:
        msh += f"||||||{msh18}"
    return (f"{msh}\rEVN|A01|20240305101500\rPID|1||123^^^CHU-X^PI||DOE^JOHN\r{body}").encode()


@dataclass
class RecordingIntake:
    """Records what a source hands over; ``fail_accept``/``fail_reject`` raise StoreError."""

    fail_accept: bool = False
    fail_reject: bool = False
    gate: asyncio.Event | None = None  # when set, accept() waits for it
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    accepted: list[Envelope] = field(default_factory=list)
    rejected: list[tuple[Envelope, str]] = field(default_factory=list)

    async def accept(
        self, channel: str, raw: bytes, content_type: str, metadata: Mapping[str, str]
    ) -> Envelope:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_accept:
            raise StoreError("database is locked")
        env = Envelope.new(channel=channel, raw=raw, content_type=content_type, metadata=metadata)
        self.accepted.append(env)
        return env

    async def reject(
        self,
        channel: str,
        raw: bytes,
        content_type: str,
        metadata: Mapping[str, str],
        reason: str,
    ) -> Envelope:
        if self.fail_reject:
            raise StoreError("database is locked")
        env = Envelope.new(channel=channel, raw=raw, content_type=content_type, metadata=metadata)
        self.rejected.append((env, reason))
        return env


def segments(ack: bytes) -> dict[str, list[str]]:
    """First occurrence of each segment of an ACK, split on ``|`` (index = field number)."""
    out: dict[str, list[str]] = {}
    for seg in ack.decode("utf-8", errors="replace").split("\r"):
        if seg:
            fields = seg.split("|")
            if fields[0] == "MSH":
                fields = ["MSH", "|", *fields[1:]]
            out.setdefault(fields[0], fields)
    return out


class Peer:
    """A raw MLLP client connection used to drive the server in tests."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder(1 << 24)
        self.frames: list[bytes] = []

    @classmethod
    async def connect(
        cls,
        address: tuple[str, int],
        *,
        ssl_context: ssl.SSLContext | None = None,
        source: str | None = None,
    ) -> Peer:
        """Connect, from the local address ``source`` when given (e.g. ``127.0.0.2``)."""
        host, port = address
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await asyncio.open_connection(
                host,
                port,
                ssl=ssl_context,
                server_hostname="localhost" if ssl_context else None,
                local_addr=(source, 0) if source else None,
            )
        return cls(reader, writer)

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_frame(self, timeout: float = TIMEOUT) -> bytes:
        """The next frame; raises EOFError if the server closed the connection first."""
        async with asyncio.timeout(timeout):
            while not self.frames:
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError("connection closed by the server")
                self.frames.extend(self.decoder.feed(data))
        return self.frames.pop(0)

    async def request(self, payload: bytes) -> bytes:
        await self.write(encode_frame(payload))
        return await self.read_frame()

    async def closed_by_server(self, timeout: float = TIMEOUT) -> bool:
        """True once the server closes (EOF or reset) within ``timeout``; data is discarded."""
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(65536):
                    pass
        except TimeoutError:
            return False
        except (ConnectionError, ssl.SSLError):
            return True
        return True

    async def close(self) -> None:
        await close_writer(self.writer)
