"""Benchmark: the compiled PAM-FR ADT → FR Core map applied to an A01.

Figures (µs per message, median and p95 of ``n`` runs after a warm-up, best of three
rounds, as ``bench.hl7v2_parse`` does, because the machine may be shared):

* ``apply`` -- ``CompiledMap.apply`` on an envelope (parse + map to a dict), no validation:
  the figure the mapping issue asks to keep under 200 µs;
* ``transform`` -- the route transform without validation (apply + JSON serialisation);
* ``transform validated`` -- the same with FHIR R4B validation of the Bundle (the default);
* ``validate bundle`` / ``validate each resource`` -- the validation alone, of the whole
  Bundle or of each entry's resource separately (what a per-resource option would cost);
* ``compile ms`` -- compiling the map (once per process).

Usage: ``python -m bench.mapping [n]`` (default 2000). Figures, never tests.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.formats.hl7v2 import read_header
from engine.mapping import compile_map, fhir_problems
from engine.message import HL7V2, Envelope

REPO = Path(__file__).resolve().parents[1]
MAP = REPO / "mappings" / "pam_fr_adt_to_fr_core.yaml"
A01 = REPO / "samples" / "hl7v2" / "adt_a01_admission.hl7"
ROUNDS = 3


def _round(func: Callable[[], object], n: int) -> list[float]:
    samples: list[float] = []
    gc.disable()
    try:
        for _ in range(n):
            start = time.perf_counter()
            func()
            samples.append((time.perf_counter() - start) * 1e6)
    finally:
        gc.enable()
    return sorted(samples)


def _times(func: Callable[[], object], n: int, rounds: int = ROUNDS) -> dict[str, float]:
    """Median and p95 of the best of ``rounds`` rounds (the machine may be shared)."""
    for _ in range(min(200, n)):
        func()
    best = min((_round(func, n) for _ in range(rounds)), key=statistics.median)
    return {
        "median_us": round(statistics.median(best), 1),
        "p95_us": round(best[int(len(best) * 0.95) - 1], 1),
        "min_us": round(best[0], 1),
    }


def run(n: int = 2000) -> dict[str, Any]:
    """The figures above, as a dict."""
    start = time.perf_counter()
    adt = compile_map(MAP)
    compile_ms = round((time.perf_counter() - start) * 1e3, 1)
    raw = A01.read_bytes()
    envelope = Envelope.new(
        channel="bench", raw=raw, content_type=HL7V2, metadata=read_header(raw).metadata()
    )
    plain = adt.to_transform(validate=False)
    validated = adt.to_transform(validate=True)
    bundle = adt.apply(envelope)
    slow = max(n // 5, 50)
    return {
        "apply": _times(lambda: adt.apply(envelope), n),
        "transform": _times(lambda: plain(envelope), n),
        "transform validated": _times(lambda: validated(envelope), slow),
        "validate bundle": _times(lambda: fhir_problems(bundle), slow),
        "validate each resource": _times(
            lambda: [fhir_problems(e["resource"]) for e in bundle["entry"]], slow
        ),
        "compile ms": compile_ms,
        "entries": len(bundle["entry"]),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    report = run(n)
    print(f"PAM-FR A01 → FR Core transaction Bundle ({report['entries']} entries), n={n}")
    print(f"{'':<26}{'median µs':>12}{'p95 µs':>10}{'min µs':>10}")
    for key, fig in report.items():
        if isinstance(fig, dict):
            print(f"{key:<26}{fig['median_us']:>12}{fig['p95_us']:>10}{fig['min_us']:>10}")
    print(f"compile: {report['compile ms']} ms (once per process)")


if __name__ == "__main__":
    main()
