"""Micro benchmarks: parse (ours vs python-hl7), ACK building, intake examination."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

from bench import hl7v2_parse
from bench.load import message
from engine.formats.hl7v2 import build_ack, read_header
from engine.intake.hl7v2 import Hl7IntakeOptions, examine


def _per_second(fn: Callable[[], object], n: int = 5000) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return round(n / best, 1)


def run() -> dict[str, Any]:
    raw = message(1, "M")
    header = read_header(raw)
    options = Hl7IntakeOptions()
    parse = hl7v2_parse.run(500)["datasets"]
    sample = next(v for k, v in parse.items() if k.startswith("sample"))
    out: dict[str, Any] = {
        "parse msg/s (ours)": round(sample["passerelle parse"]["msg_per_s"], 1),
        "parse msg/s (python-hl7)": round(sample["python-hl7 parse"]["msg_per_s"], 1),
        "parse+read msg/s (ours)": round(sample["passerelle parse+read"]["msg_per_s"], 1),
        "parse+read msg/s (python-hl7)": round(sample["python-hl7 parse+read"]["msg_per_s"], 1),
        "ACK build per s": _per_second(lambda: build_ack(header, "AA")),
        "intake examine per s": _per_second(lambda: examine(raw, options)),
    }
    try:  # bench/mapping.py comes with the mapping runtime
        mapping = importlib.import_module("bench.mapping")
    except ImportError:
        out["mapping"] = "not available"
    else:
        out["mapping"] = mapping.run(2000)
    return out


__all__ = ["run"]
