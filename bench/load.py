"""MLLP load generator: closed-loop (one message in flight per connection) and paced.

Each message is the same ~2 KB PAM-FR ADT^A01 with a unique MSH-10, so an engine that
names files after the control id writes one file per message. Latency is send → ACK.

With ``correlate=True`` (the end-to-end bench) message n is made traceable after mapping:
its IPP (PID-3 typed PI) is :func:`ipp` ``(n, run)``, so the FHIR sink can tell which
message a Bundle came from; its visit number is moved to PV1-19 (the sample has it in
PV1-18) and made unique, as is the movement id (ZBE-1), so the PAM-FR → FR Core map yields
a full Bundle (Patient, venue Encounter, movement Encounter) rather than a Patient alone.
The send wall time (``time.time()``) of every message is kept in ``LoadResult.sent_wall``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from bench.hl7v2_parse import SAMPLE_ADT_A01
from channels.mllp.framing import FrameDecoder, encode_frame

_TEMPLATE: bytes = SAMPLE_ADT_A01
_CONTROL = b"|3975|"
_IPP = b"|000003^^^CHU-X&"
_VISIT_18 = b"||||000897406^^^CHU-X&000897406&M^VN^^20210409|"
_MOVEMENT = b"ZBE|312^CHU-X^000897406|"


def ipp(n: int, run: str) -> str:
    """The IPP of message ``n`` of ``run`` when correlating (letters and digits only)."""
    return f"{run}{n:07d}"


def message(n: int, run: str, *, correlate: bool = False) -> bytes:
    """The sample A01 with MSH-10 = ``<run>-<n>`` (and, correlating, see the module doc)."""
    out = _TEMPLATE.replace(_CONTROL, f"|{run}-{n:07d}|".encode(), 1)
    if not correlate:
        return out
    key = ipp(n, run)
    out = out.replace(_IPP, f"|{key}^^^CHU-X&".encode(), 1)
    out = out.replace(_VISIT_18, f"|||||V{key}^^^CHU-X&000897406&M^VN^^20210409|".encode(), 1)
    return out.replace(_MOVEMENT, f"ZBE|M{key}^CHU-X^000897406|".encode(), 1)


@dataclass
class LoadResult:
    sent: int = 0
    acked: int = 0
    negative: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    sent_wall: dict[int, float] = field(default_factory=dict)
    """Message number n → wall time (``time.time()``) its frame was written."""

    @property
    def rate(self) -> float:
        return self.acked / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def _connection(
    port: int,
    messages: list[tuple[int, bytes]],
    result: LoadResult,
    pace: float | None,
    start: float,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    decoder = FrameDecoder(1 << 20)
    try:
        for i, (n, msg) in enumerate(messages):
            if pace is not None:  # open loop: message i is due at start + i * pace
                delay = start + i * pace - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent_at = time.perf_counter()
            result.sent_wall[n] = time.time()
            writer.write(encode_frame(msg))
            result.sent += 1
            frames: list[bytes] = []
            while not frames:
                chunk = await reader.read(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                frames = decoder.feed(chunk)
            result.latencies_ms.append((time.perf_counter() - sent_at) * 1000)
            result.acked += 1
            if b"MSA|AA|" not in frames[0] and b"MSA|CA|" not in frames[0]:
                result.negative += 1
    finally:
        writer.close()


async def run_load(
    port: int,
    total: int,
    connections: int,
    run: str,
    rate: float | None = None,
    *,
    correlate: bool = False,
) -> LoadResult:
    """Send ``total`` messages over ``connections`` connections and wait for every ACK.

    With ``rate`` (messages per second, all connections together) the load is paced
    (open loop); without it each connection sends as fast as ACKs come back. With
    ``correlate`` the messages carry unique IPPs (see :func:`message`).
    """
    result = LoadResult()
    per_conn = [
        [(n, message(n, run, correlate=correlate)) for n in range(c, total, connections)]
        for c in range(connections)
    ]
    pace = connections / rate if rate else None
    start = time.perf_counter()
    await asyncio.gather(
        *(
            _connection(port, msgs, result, pace, start + c * (pace or 0) / connections)
            for c, msgs in enumerate(per_conn)
        )
    )
    result.seconds = time.perf_counter() - start
    return result


__all__ = ["LoadResult", "ipp", "message", "run_load"]
