"""End-to-end benchmark: MLLP in → PAM-FR → FR Core map → ``fhir`` destination.

For FHIR validation off and on, the engine (a subprocess) receives PAM-FR ADT^A01 over
MLLP, maps each to an FR Core transaction Bundle (Patient, venue and movement Encounters)
and POSTs it to ``bench/fhir_sink.py``, a minimal HTTP endpoint that records when each
Bundle arrived and whose IPP it carries. Each message has its own IPP
(``bench.load.message(..., correlate=True)``), so a delivery is matched to the send time.

Two loads per mode, after a short warm-up (map compiled, connections open):

* ``paced``: ``total`` messages offered at ``rate`` msg/s on 4 connections (open loop);
* ``max``: ``total`` messages on 8 connections, each sending as soon as its ACK is back
  (closed loop): the most the engine takes in while delivering.

Figures: delivered msg/s from the first send to the last delivery, send → delivered
latency (wall clocks of the two processes on this machine), send → ACK latency, how many
messages never reached the sink within the bounded wait, and the engine's peak RSS.

Usage: ``python -m bench.end_to_end [total] [rate]``. Figures, never tests.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.load import LoadResult, ipp, run_load
from bench.processes import free_port, rss_mb, start_fhir_engine, start_fhir_sink, stop

WARMUP = 50
PACED_CONNECTIONS = 4
MAX_CONNECTIONS = 8


def _stats(sink_port: int) -> list[tuple[str, float]]:
    url = f"http://127.0.0.1:{sink_port}/stats"
    with urllib.request.urlopen(url, timeout=10) as answer:
        data = json.loads(answer.read())
    return [(str(key), float(at)) for key, at in data["records"]]


def _delivered(sink_port: int, run: str, total: int, timeout: float) -> dict[str, float]:
    """IPP → first arrival time at the sink of the messages of ``run``, waiting (bounded)
    until all ``total`` have arrived."""
    wanted = {ipp(n, run) for n in range(total)}
    deadline = time.monotonic() + timeout
    while True:
        arrived: dict[str, float] = {}
        for key, at in _stats(sink_port):
            if key in wanted and key not in arrived:
                arrived[key] = at
        if len(arrived) >= total or time.monotonic() > deadline:
            return arrived
        time.sleep(0.25)


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


def _figures(load: LoadResult, run: str, arrived: dict[str, float]) -> dict[str, Any]:
    latencies = [
        (arrived[ipp(n, run)] - sent) * 1000
        for n, sent in load.sent_wall.items()
        if ipp(n, run) in arrived
    ]
    first_send = min(load.sent_wall.values())
    last = max(arrived.values(), default=first_send)
    seconds = last - first_send
    return {
        "messages": load.sent,
        "negative_acks": load.negative,
        "delivered": len(arrived),
        "missing": load.sent - len(arrived),
        "seconds": round(seconds, 3),
        "delivered_msg_per_s": round(len(arrived) / seconds, 1) if seconds > 0 else None,
        "ack_msg_per_s": round(load.rate, 1),
        "p50_ms": _pct(latencies, 50),
        "p95_ms": _pct(latencies, 95),
        "p99_ms": _pct(latencies, 99),
        "ack_p50_ms": round(load.percentile(50), 2),
        "ack_p99_ms": round(load.percentile(99), 2),
    }


def _scenario(
    port: int, sink: int, total: int, run: str, connections: int, rate: float | None
) -> dict[str, Any]:
    load = asyncio.run(run_load(port, total, connections, run, rate=rate, correlate=True))
    arrived = _delivered(sink, run, total, timeout=60 + total / 20)
    return _figures(load, run, arrived)


def run(total: int, rate: float) -> dict[str, Any]:
    """Measure both modes; figures per scenario (``validate_off_paced_100``, ...)."""
    out: dict[str, Any] = {"offered_rate": rate, "messages": total}
    with tempfile.TemporaryDirectory(prefix="passerelle-e2e-") as tmp:
        for validate in (False, True):
            mode = "on" if validate else "off"
            sink_port, port = free_port(), free_port()
            sink = start_fhir_sink(sink_port)
            try:
                engine = start_fhir_engine(Path(tmp) / f"v{mode}", port, sink_port, validate)
                try:
                    run_id = f"W{mode.upper()}"
                    warm = asyncio.run(run_load(port, WARMUP, 2, run_id, correlate=True))
                    _delivered(sink_port, run_id, warm.sent, timeout=60)
                    out[f"validate_{mode}_paced_{int(rate)}"] = _scenario(
                        port, sink_port, total, f"P{mode.upper()}", PACED_CONNECTIONS, rate
                    )
                    out[f"validate_{mode}_max_{MAX_CONNECTIONS}conn"] = _scenario(
                        port, sink_port, total, f"C{mode.upper()}", MAX_CONNECTIONS, None
                    )
                    out[f"validate_{mode}_engine_peak_rss_mb"] = round(rss_mb(engine.pid)[1], 1)
                finally:
                    stop(engine)
            finally:
                stop(sink)
    return out


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    r = float(sys.argv[2]) if len(sys.argv) > 2 else 100.0
    print(json.dumps(run(n, r), indent=2))
