"""A minimal MLLP peer for benchmarks: answers AA to every frame, echoing MSH-10, stores
nothing but a count and the time of the last frame (a ``BENCH-STATS`` frame reads them).
Used as the destination of the engine when the network, not the disk, should be on the
delivery side.

Run: ``python -m bench.sink PORT`` (prints ``ready`` once listening).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

from channels.mllp.framing import FrameDecoder, encode_frame


def ack_for(frame: bytes) -> bytes:
    first = frame.split(b"\r", 1)[0]
    fields = first.split(first[3:4]) if len(first) > 3 else []
    control = fields[9] if len(fields) > 9 else b""
    return b"MSH|^~\\&|SINK||||20260101000000||ACK|1|P|2.5\rMSA|AA|" + control + b"\r"


async def serve_mllp(port: int, answer: Callable[[bytes], Awaitable[bytes]]) -> None:
    """Serve MLLP on 127.0.0.1:``port``, answering each frame with ``await answer(frame)``,
    in order per connection; prints ``ready`` once listening. Runs until cancelled."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder(1 << 20)
        try:
            while chunk := await reader.read(65536):
                for frame in decoder.feed(chunk):
                    writer.write(encode_frame(await answer(frame)))
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


STATS = b"BENCH-STATS"
"""A frame with this MSH-10 is answered with the sink's count in MSA-3, not counted."""
_received = {"count": 0, "last": 0.0}


async def _echo_ack(frame: bytes) -> bytes:
    if b"|" + STATS + b"|" in frame.split(b"\r", 1)[0]:
        text = f"{_received['count']} {_received['last']:.6f}".encode()
        return b"MSH|^~\\&|SINK||||20260101000000||ACK|1|P|2.5\rMSA|AA|STATS|" + text + b"\r"
    _received["count"] += 1
    _received["last"] = time.time()
    return ack_for(frame)


if __name__ == "__main__":
    asyncio.run(serve_mllp(int(sys.argv[1]), _echo_ack))
