"""``python -m bench``: Passerelle's benchmark report (a table and a JSON file).

Figures, not tests: they are measured on this machine in one run, the engine beside the
practical limit (a minimal server with the same durability), so the ratio means something
even on a noisy machine. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from bench import delivered, end_to_end, ingest, memory, micro
from bench.delivered import SCENARIOS_ALL as SCENARIOS


def _table(report: dict[str, Any]) -> str:
    lines = [
        "",
        "MLLP ingest (ACK after commit, ~1.9 KB ADT^A01)",
        f"{'scenario':<26}{'msg/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}",
    ]
    for key, fig in report["ingest"].items():
        if isinstance(fig, dict):
            lines.append(
                f"{key:<26}{fig['msg_per_s']:>10}{fig['p50_ms']:>9}"
                f"{fig['p95_ms']:>9}{fig['p99_ms']:>9}"
            )
    ing = report["ingest"]
    lines.append(
        f"engine / practical limit: 1 conn {ing['ratio_1conn']}, 8 conn {ing['ratio_8conn']}"
    )
    e2e = report["end_to_end"]
    lines += [
        "",
        f"End to end (MLLP → map → FHIR), {e2e['messages']} msg per scenario; "
        "latency send → delivered",
        f"{'scenario':<26}{'msg/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'ACK p50':>9}{'ACK p99':>9}{'missing':>9}",
    ]
    for key, fig in e2e.items():
        if isinstance(fig, dict):
            lines.append(
                f"{key:<26}{fig['delivered_msg_per_s']!s:>8}{fig['p50_ms']:>9}{fig['p95_ms']:>9}"
                f"{fig['p99_ms']:>9}{fig['ack_p50_ms']:>9}{fig['ack_p99_ms']:>9}"
                f"{fig['missing']:>9}"
            )
    lines.append(
        f"engine peak RSS (MB): validation off {e2e['validate_off_engine_peak_rss_mb']}, "
        f"on {e2e['validate_on_engine_peak_rss_mb']}"
    )
    lines += ["", "Micro"]
    lines += [f"  {k:<40}{v}" for k, v in report["micro"].items()]
    lines += ["", "Memory"]
    lines += [f"  {k:<40}{v}" for k, v in report["memory"].items()]
    lines.append(f"  {'engine peak RSS during ingest (MB)':<40}{ing['engine_peak_rss_mb']:.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--messages", type=int, default=3000, help="per ingest scenario")
    parser.add_argument("--paced-rate", type=float, default=300.0, help="msg/s offered")
    parser.add_argument(
        "--store-messages",
        type=int,
        default=100_000,
        help="messages preloaded for the memory figure",
    )
    parser.add_argument("--e2e-messages", type=int, default=2000, help="per end-to-end scenario")
    parser.add_argument(
        "--e2e-rate", type=float, default=100.0, help="msg/s offered end to end (paced)"
    )
    parser.add_argument(
        "--delivered-messages",
        type=int,
        default=3000,
        help="per topology and scenario of the delivered-rate table (bench/delivered.py)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    report: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "ingest": ingest.run(args.messages, args.paced_rate, int(args.paced_rate * 10)),
        "end_to_end": end_to_end.run(args.e2e_messages, args.e2e_rate),
        "micro": micro.run(),
        "memory": memory.run(args.store_messages),
        "delivered": delivered.run(
            args.delivered_messages, [t.name for t in delivered.TOPOLOGIES], list(SCENARIOS)
        ),
    }
    print(_table(report))
    print()
    print(delivered.table(report["delivered"]))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nJSON report: {path}")


if __name__ == "__main__":
    main()
