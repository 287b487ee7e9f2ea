"""Ingest benchmark: the engine vs the minimal server, on 1 and 8 connections, and
ACK latency under a paced load. Every process runs on this machine, in the same run."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from bench.load import LoadResult, run_load
from bench.processes import (
    free_port,
    rss_mb,
    start_baseline,
    start_engine,
    start_sink,
    stop,
)


def _figures(r: LoadResult) -> dict[str, float]:
    return {
        "messages": r.acked,
        "negative_acks": r.negative,
        "seconds": round(r.seconds, 3),
        "msg_per_s": round(r.rate, 1),
        "p50_ms": round(r.percentile(50), 2),
        "p95_ms": round(r.percentile(95), 2),
        "p99_ms": round(r.percentile(99), 2),
    }


def run(total: int, paced_rate: float, paced_total: int) -> dict[str, Any]:
    """Measure; return figures per scenario plus the engine's peak RSS."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="passerelle-bench-") as tmp:
        base_port = free_port()
        baseline = start_baseline(Path(tmp) / "baseline", base_port)
        try:
            for conns in (1, 8):
                r = asyncio.run(run_load(base_port, total, conns, f"B{conns}"))
                out[f"baseline_{conns}conn"] = _figures(r)
        finally:
            stop(baseline)
        sink_port = free_port()
        sink = start_sink(sink_port)
        port = free_port()
        engine = start_engine(Path(tmp) / "engine", port, sink=sink_port)
        try:  # the engine delivering every message to an MLLP peer (network, not disk)
            for conns in (1, 8):
                r = asyncio.run(run_load(port, total, conns, f"E{conns}"))
                out[f"engine_{conns}conn"] = _figures(r)
            r = asyncio.run(run_load(port, paced_total, 4, "P", rate=paced_rate))
            out[f"engine_paced_{int(paced_rate)}"] = _figures(r)
            out["engine_rss_mb"], out["engine_peak_rss_mb"] = rss_mb(engine.pid)
        finally:
            stop(engine)
            stop(sink)
        port = free_port()
        engine = start_engine(Path(tmp) / "engine_file", port)
        try:  # the same with the file destination: its fsyncs share the store's disk
            for conns in (1, 8):
                r = asyncio.run(run_load(port, total, conns, f"F{conns}"))
                out[f"engine_to_file_{conns}conn"] = _figures(r)
        finally:
            stop(engine)
    for conns in (1, 8):
        base = out[f"baseline_{conns}conn"]["msg_per_s"]
        eng = out[f"engine_{conns}conn"]["msg_per_s"]
        out[f"ratio_{conns}conn"] = round(eng / base, 3) if base else None
    return out


__all__ = ["run"]
