"""In-process latency histograms, exported on ``/metrics`` by the engine's console.

* ``passerelle_ack_latency_seconds{channel}``: from the moment an MLLP source has a whole
  frame to the moment its ACK is written (examination, commit, ACK);
* ``passerelle_delivery_latency_seconds{destination}``: from the receipt of the message
  to its successful delivery (routing, queueing, retries included).

Fed by the MLLP source and the pipeline of this process only: deliveries made by worker
processes (``engine.worker_processes``) are not in the engine's histograms. Labels are
configured names (never patient data). Observing is a dictionary look-up and a few
additions: cheap enough for the hot path.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DELIVERY_BUCKETS = (
    0.01,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
)

REGISTRY = CollectorRegistry(auto_describe=True)
"""The process's latency histograms (not prometheus_client's global registry)."""

ACK_LATENCY = Histogram(
    "passerelle_ack_latency_seconds",
    "Time from a complete inbound frame to its acknowledgement being written.",
    ["channel"],
    buckets=ACK_BUCKETS,
    registry=REGISTRY,
)
DELIVERY_LATENCY = Histogram(
    "passerelle_delivery_latency_seconds",
    "Time from the receipt of a message to its successful delivery.",
    ["destination"],
    buckets=DELIVERY_BUCKETS,
    registry=REGISTRY,
)


def observe_ack(channel: str, seconds: float) -> None:
    """One acknowledgement written by ``channel`` after ``seconds``."""
    ACK_LATENCY.labels(channel).observe(max(0.0, seconds))


def observe_delivery(destination: str, seconds: float) -> None:
    """One message delivered to ``destination`` ``seconds`` after its receipt."""
    DELIVERY_LATENCY.labels(destination).observe(max(0.0, seconds))


__all__ = [
    "ACK_LATENCY",
    "DELIVERY_LATENCY",
    "REGISTRY",
    "observe_ack",
    "observe_delivery",
]
