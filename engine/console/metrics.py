"""Prometheus ``/metrics`` and the ``/healthz`` and ``/readyz`` probes (no patient data).

``/metrics`` reads the store at scrape time (counter-backed summaries, a few queries
whatever the store's size) through :class:`StoreCollector`, so its figures are the
store's; inside ``passerelle run`` it adds the process's latency histograms
(:mod:`engine.latency`). Labels are configured names and states only. See docs/metrics.md.

``/healthz``: the process answers. ``/readyz``: the store takes a write (the lease row
:data:`PROBE_LEASE` rewritten, expired at once so that any process can write it) and
every configured channel is listening (or stopped by an operator), according to the
running engine or, in ``passerelle console``, to the heartbeats of live engine nodes;
503 with the reasons otherwise.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from engine import latency
from engine.circuit import CircuitState
from engine.console.context import ConsoleContext
from engine.errors import StoreError
from engine.message import DeliveryState, MessageState
from engine.store.base import DestinationStatus
from engine.store.console import (
    AlertState,
    ChannelSummary,
    DestinationSummary,
    channel_states_of,
)

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PROBE_LEASE = "readyz"
CIRCUIT_STATES = tuple(state.value for state in CircuitState)


@dataclass
class Snapshot:
    """The store's figures read for one scrape."""

    at: datetime
    channels: list[ChannelSummary] = field(default_factory=list)
    destinations: list[DestinationSummary] = field(default_factory=list)
    routes: dict[str, int] = field(default_factory=dict)
    circuits: list[DestinationStatus] = field(default_factory=list)
    alerts: list[AlertState] = field(default_factory=list)
    up: bool = True


async def read_snapshot(ctx: ConsoleContext) -> Snapshot:
    """Read the figures; a store failure gives ``up`` False (and no figures)."""
    snap = Snapshot(ctx.now())
    try:
        snap.channels = await ctx.store.channel_summaries()
        snap.destinations = await ctx.store.destination_summaries()
        snap.routes = await ctx.store.route_counts()
        snap.circuits = await ctx.store.destination_statuses()
        snap.alerts = await ctx.store.alert_states()
    except Exception as exc:  # StoreError, or a closed store: the scrape still answers
        log.warning("Metrics: the store did not answer.", extra={"error": type(exc).__name__})
        return Snapshot(snap.at, up=False)
    return snap


class StoreCollector(Collector):
    """Metric families of one :class:`Snapshot`; names come from the configuration
    (every configured channel and destination appears, with zeros if need be)."""

    def __init__(self, ctx: ConsoleContext, snap: Snapshot) -> None:
        self.ctx = ctx
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        snap, config = self.snap, self.ctx.config
        up = GaugeMetricFamily("passerelle_store_up", "1 when the store answered this scrape.")
        up.add_metric([], 1.0 if snap.up else 0.0)
        yield up
        if not snap.up:
            return
        channels = {s.channel: s for s in snap.channels}
        msgs = GaugeMetricFamily(
            "passerelle_messages",
            "Messages in the store per channel and state.",
            labels=["channel", "state"],
        )
        last = GaugeMetricFamily(
            "passerelle_channel_last_received_timestamp_seconds",
            "When the channel's newest message was received (UNIX time).",
            labels=["channel"],
        )
        for name in sorted({*config.channels, *channels}):
            summary = channels.get(name, ChannelSummary(name))
            for state in MessageState:
                msgs.add_metric([name, state.value], float(summary.counts.get(state, 0)))
            if summary.last_received_at is not None:
                last.add_metric([name], summary.last_received_at.timestamp())
        yield msgs
        yield last
        yield from self._destinations()
        routes = GaugeMetricFamily(
            "passerelle_route_deliveries", "Deliveries in the store per route.", labels=["route"]
        )
        for route, n in sorted(snap.routes.items()):
            routes.add_metric([route], float(n))
        yield routes
        firing = GaugeMetricFamily(
            "passerelle_alerts_firing", "Subjects for which an alert rule fires.", labels=["rule"]
        )
        for rule in config.alerts.rules:
            n = sum(
                1 for a in snap.alerts if a.firing and a.fingerprint.startswith(rule.name + ":")
            )
            firing.add_metric([rule.name], float(n))
        yield firing

    def _destinations(self) -> Iterator[Metric]:
        snap = self.snap
        dests = {s.destination: s for s in snap.destinations}
        circuits = {s.destination: s.state for s in snap.circuits}
        deliveries = GaugeMetricFamily(
            "passerelle_deliveries",
            "Deliveries in the store per destination and state.",
            labels=["destination", "state"],
        )
        backlog = GaugeMetricFamily(
            "passerelle_backlog",
            "Deliveries waiting (pending + retrying): the queue depth.",
            labels=["destination"],
        )
        oldest = GaugeMetricFamily(
            "passerelle_oldest_waiting_seconds",
            "Age of the oldest waiting delivery.",
            labels=["destination"],
        )
        circuit = GaugeMetricFamily(
            "passerelle_circuit_state",
            "1 for the destination's current circuit state.",
            labels=["destination", "state"],
        )
        for name in sorted({*self.ctx.config.destinations, *dests}):
            summary = dests.get(name, DestinationSummary(name))
            for state in DeliveryState:
                deliveries.add_metric([name, state.value], float(summary.counts.get(state, 0)))
            waiting = summary.waiting
            backlog.add_metric([name], float(waiting))
            at = summary.oldest_waiting_at
            age = (snap.at - at).total_seconds() if at is not None and waiting else 0.0
            oldest.add_metric([name], max(0.0, age))
            current = circuits.get(name, "closed")
            for cstate in CIRCUIT_STATES:
                circuit.add_metric([name, cstate], 1.0 if cstate == current else 0.0)
        yield from (deliveries, backlog, oldest, circuit)


async def render_metrics(ctx: ConsoleContext) -> bytes:
    """The exposition text of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(ctx, await read_snapshot(ctx)))
    text = generate_latest(registry)
    if ctx.runtime is not None:  # histograms are fed in the engine's process
        text += generate_latest(latency.REGISTRY)
    return text


async def readiness(ctx: ConsoleContext) -> list[str]:
    """Reasons the engine is not ready (empty: ready)."""
    reasons: list[str] = []
    owner = f"{socket.gethostname()}:{os.getpid()}"
    try:
        await ctx.store.acquire_lease(PROBE_LEASE, owner, 0.0)  # one row, expired at once
    except Exception as exc:  # StoreError, or a closed store: a probe never fails with 500
        detail = f": {str(exc)[:120]}" if isinstance(exc, StoreError) else ""
        return [f"store not writable: {type(exc).__name__}{detail}"]
    if ctx.runtime is not None:
        states = ctx.runtime.channel_states()
    else:
        try:
            nodes = await ctx.store.node_statuses()
        except Exception as exc:
            return [f"store not readable: {type(exc).__name__}"]
        now = ctx.now()
        if ctx.config.channels and not any(n.alive(now) for n in nodes):
            return ["no engine node has sent a heartbeat recently"]
        states = channel_states_of(nodes, now)
    for name in ctx.config.channels:
        state = states.get(name, "unknown")
        if state not in ("listening", "stopped"):
            reasons.append(f"channel {name} is {state}")
    return reasons


def routes(ctx: ConsoleContext) -> list[BaseRoute]:
    """The probe and metrics routes (unauthenticated: they reveal no patient data)."""

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        reasons = await readiness(ctx)
        if reasons:
            return JSONResponse({"status": "not ready", "reasons": reasons}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        return Response(await render_metrics(ctx), media_type=CONTENT_TYPE)

    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]


__all__ = ["CONTENT_TYPE", "Snapshot", "StoreCollector", "read_snapshot", "readiness", "routes"]
