"""Sustained *delivered* rates per topology: time from the first send to the last delivery.

For each topology (SQLite in one process; SQLite with worker processes; PostgreSQL +
dramatiq with 1 and 2 worker processes) and each scenario, a fresh engine (a subprocess,
fresh store) takes ``messages`` PAM-FR ADT^A01 over MLLP, closed loop, and the bench waits
until the destination has them all:

* ``file_1conn``, ``file_8conn``: route to the file destination (delivered = files written;
  the last delivery is the newest file's mtime);
* ``mllp_8conn``: route to the MLLP sink (``bench/sink.py`` counts frames);
* ``e2e_validate_off_8conn``, ``e2e_validate_on_8conn``: PAM-FR → FR Core map → FHIR sink,
  FHIR validation off/on (``bench/fhir_sink.py`` records arrivals).

Per scenario: delivered msg/s, its ratio to the same-run minimal server (``bench/baseline.py``,
ACK after a SQLite commit per frame, same number of connections), ACK p50/p99, CPU ms per
message (user + system of the engine and its worker processes, from /proc, over the load),
RSS per process (MB), store bytes per message. Figures, never tests.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.end_to_end import _delivered as fhir_delivered
from bench.load import LoadResult, run_load
from bench.processes import (
    REPO,
    free_port,
    launch,
    rss_mb,
    start_baseline,
    start_fhir_sink,
    start_sink,
    stop,
)
from bench.services import Services
from bench.sink import STATS

CONFIG = """\
version: 1
engine: {{home: {home}, node: bench, workers: 4, worker_processes: {processes},
          shutdown_grace: 5s, mappings: {mappings}}}
{store}
{queue}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:{port}", max_connections: 64}}
destinations:
  out: {destination}
routes:
  - {route}
"""
SCENARIOS = ("file_1conn", "file_8conn", "mllp_8conn", "e2e_validate_off_8conn")
SCENARIOS_ALL = (*SCENARIOS, "e2e_validate_on_8conn")


@dataclass(frozen=True)
class Topology:
    name: str
    postgres: bool
    processes: int


TOPOLOGIES = (
    Topology("sqlite", False, 0),
    Topology("sqlite_2proc", False, 2),
    Topology("pg_dramatiq_1proc", True, 1),
    Topology("pg_dramatiq_2proc", True, 2),
)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _family(pid: int) -> list[int]:
    """``pid`` and its child processes (the worker processes)."""
    found = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def _sink_count(port: int) -> tuple[int, float]:
    """(frames received, wall time of the last one) from the MLLP sink."""
    frame = b"MSH|^~\\&|BENCH|X|SINK|X|20260101000000||ADT^A01|" + STATS + b"|P|2.5\r"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"\x0b" + frame + b"\x1c\r")
        data = b""
        while not data.endswith(b"\x1c\r"):
            data += conn.recv(65536)
    msa = next(s for s in data.split(b"\r") if s.startswith(b"MSA"))
    count, last = msa.split(b"|")[3].split()
    return int(count), float(last)


def _files_done(directory: Path, total: int) -> tuple[int, float]:
    files = [p for p in directory.glob("*.hl7")] if directory.exists() else []
    return len(files), max((p.stat().st_mtime for p in files), default=0.0)


def _wait(done: Callable[[], tuple[int, float]], total: int, timeout: float) -> tuple[int, float]:
    deadline = time.monotonic() + timeout
    while True:
        count, last = done()
        if count >= total or time.monotonic() > deadline:
            return count, last
        time.sleep(0.05)


def _store_bytes(home: Path, services: Services | None) -> int:
    if services is not None:
        return services.database_size()
    return sum(p.stat().st_size for p in home.glob("store.db*") if p.is_file())


PATIENT_INDEX = True
"""Index patient identifiers (the default); ``--no-patient-index`` measures without."""


def _config(
    top: Topology, scenario: str, home: Path, port: int, sink: int, services: Services | None
) -> str:
    if scenario.startswith("file"):
        destination, route = f"{{type: file, directory: {home}/out}}", "{name: all, to: [out]}"
    elif scenario.startswith("mllp"):
        destination = f'{{type: mllp, address: "127.0.0.1:{sink}"}}'
        route = "{name: all, to: [out]}"
    else:
        validate = "true" if "validate_on" in scenario else "false"
        destination = (
            f'{{type: fhir, base_url: "http://127.0.0.1:{sink}/fhir", mode: transaction,'
            " timeout: 30s}"
        )
        route = f"{{name: adt, map: pam_fr_adt_to_fr_core, validate: {validate}, to: [out]}}"
    store = queue = ""
    index = "" if PATIENT_INDEX else "patient_index: {enabled: false}"
    if services is not None:
        extra = f", {index}" if index else ""
        store = f"store: {{backend: postgres, dsn: '{services.fresh_database()}'{extra}}}"
        queue = f"queue: {{backend: dramatiq, redis_url: '{services.redis_url}'}}"
    elif index:
        store = f"store: {{{index}}}"
    return CONFIG.format(
        home=home,
        processes=top.processes,
        mappings=REPO / "mappings",
        store=store,
        queue=queue,
        port=port,
        destination=destination,
        route=route,
    )


@contextmanager
def _sink_for(scenario: str) -> Iterator[int]:
    port = free_port()
    if scenario.startswith("file"):
        yield 0
        return
    proc = start_fhir_sink(port) if scenario.startswith("e2e") else start_sink(port)
    try:
        yield port
    finally:
        stop(proc)


def _scenario(
    top: Topology, scenario: str, total: int, tmp: Path, services: Services | None
) -> dict[str, Any]:
    home = tmp / f"{top.name}-{scenario}"
    home.mkdir(parents=True)
    connections = 1 if scenario.endswith("1conn") else 8
    with _sink_for(scenario) as sink:
        port = free_port()
        config = home / "routes.yaml"
        config.write_text(_config(top, scenario, home, port, sink, services))
        engine = launch(config, port)
        try:
            time.sleep(1.0 + top.processes)  # worker processes start
            before_store = _store_bytes(home, services)  # the schema is there
            pids = _family(engine.pid)
            cpu_before = sum(_cpu_seconds(p) for p in pids)
            run = f"{scenario[:1].upper()}{connections}"
            correlate = scenario.startswith("e2e")
            load: LoadResult = asyncio.run(
                run_load(port, total, connections, run, correlate=correlate)
            )
            first_send = min(load.sent_wall.values())
            timeout = 60 + total / 20
            if scenario.startswith("file"):
                count, last = _wait(lambda: _files_done(home / "out", total), total, timeout)
            elif scenario.startswith("mllp"):
                count, last = _wait(lambda: _sink_count(sink), total, timeout)
            else:
                arrived = fhir_delivered(sink, run, total, timeout)
                count, last = len(arrived), max(arrived.values(), default=first_send)
            cpu = sum(_cpu_seconds(p) for p in pids if Path(f"/proc/{p}").exists()) - cpu_before
            rss = {str(p): round(rss_mb(p)[1], 1) for p in pids if Path(f"/proc/{p}").exists()}
        finally:
            stop(engine)
        stored = _store_bytes(home, services) - before_store
    seconds = last - first_send
    return {
        "messages": total,
        "delivered": count,
        "seconds_to_last_delivery": round(seconds, 3),
        "delivered_msg_per_s": round(count / seconds, 1) if seconds > 0 else None,
        "ack_msg_per_s": round(load.rate, 1),
        "ack_p50_ms": round(load.percentile(50), 2),
        "ack_p99_ms": round(load.percentile(99), 2),
        "cpu_ms_per_message": round(cpu * 1000 / max(count, 1), 3),
        "peak_rss_mb_per_process": rss,
        "store_bytes_per_message": round(stored / max(count, 1)),
    }


def _baseline(total: int, tmp: Path) -> dict[int, float]:
    port = free_port()
    proc = start_baseline(tmp / "baseline", port)
    try:
        return {c: round(asyncio.run(run_load(port, total, c, f"B{c}")).rate, 1) for c in (1, 8)}
    finally:
        stop(proc)


def run(total: int, topologies: list[str], scenarios: list[str]) -> dict[str, Any]:
    """Every (topology, scenario) figure, plus the same-run baseline and ratios."""
    out: dict[str, Any] = {"messages": total}
    chosen = [t for t in TOPOLOGIES if t.name in topologies]
    with tempfile.TemporaryDirectory(prefix="passerelle-delivered-") as name, ExitStack() as stack:
        tmp = Path(name)
        baseline = _baseline(total, tmp)
        out["baseline_ack_msg_per_s"] = baseline
        services = None
        if any(t.postgres for t in chosen):
            services = stack.enter_context(Services.started(tmp / "services"))
        for top in chosen:
            for scenario in scenarios:
                fig = _scenario(top, scenario, total, tmp, services if top.postgres else None)
                base = baseline[1 if scenario.endswith("1conn") else 8]
                rate = fig["delivered_msg_per_s"]
                fig["ratio_to_minimal_server"] = round(rate / base, 3) if rate and base else None
                out[f"{top.name}/{scenario}"] = fig
    return out


def table(report: dict[str, Any]) -> str:
    """The report as a text table (one line per topology and scenario)."""
    base = report["baseline_ack_msg_per_s"]
    lines = [
        f"Delivered (time to the last delivery), {report['messages']} msg per scenario; "
        f"minimal server ACK msg/s: 1 conn {base[1]}, 8 conn {base[8]}",
        f"{'topology/scenario':<42}{'deliv/s':>9}{'ratio':>7}{'ACK/s':>8}{'ACK p99':>9}"
        f"{'CPU ms':>8}{'B/msg':>7}  peak RSS MB per process",
    ]
    for key, fig in report.items():
        if isinstance(fig, dict) and "delivered" in fig:
            rss = ", ".join(f"{v}" for v in fig["peak_rss_mb_per_process"].values())
            missing = fig["messages"] - fig["delivered"]
            lines.append(
                f"{key:<42}{fig['delivered_msg_per_s']!s:>9}{fig['ratio_to_minimal_server']!s:>7}"
                f"{fig['ack_msg_per_s']:>8}{fig['ack_p99_ms']:>9}{fig['cpu_ms_per_message']:>8}"
                f"{fig['store_bytes_per_message']:>7}  {rss}"
                + (f"  MISSING {missing}" if missing else "")
            )
    return "\n".join(lines)


def main() -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m bench.delivered", description=__doc__)
    parser.add_argument("--messages", type=int, default=3000, help="per scenario")
    parser.add_argument(
        "--topologies", default=",".join(t.name for t in TOPOLOGIES), help="comma-separated"
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS_ALL), help="comma-separated")
    parser.add_argument(
        "--no-patient-index", action="store_true", help="store.patient_index.enabled: false"
    )
    args = parser.parse_args()
    global PATIENT_INDEX
    PATIENT_INDEX = not args.no_patient_index
    report = run(args.messages, args.topologies.split(","), args.scenarios.split(","))
    print(table(report))
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"delivered-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nreport: {path}")


if __name__ == "__main__":
    main()


__all__ = ["SCENARIOS", "SCENARIOS_ALL", "TOPOLOGIES", "Topology", "main", "run", "table"]
