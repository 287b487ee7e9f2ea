"""``/api/v1/overview`` and ``/api/v1/activity``: channels, destinations and nodes at a
glance, from the store's counters (no scan of the messages), within the caller's scope."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from engine.console.api.routing import ApiRoute, Call, Param, iso
from engine.console.api.tenancy import Scope
from engine.message import DeliveryState, MessageState
from engine.store.console import (
    ChannelSummary,
    DestinationSummary,
    NodeStatus,
    channel_states_of,
)

_CIRCUIT_STATUS = {"open": "circuit_open", "half-open": "half_open"}


async def channel_states(call: Call) -> dict[str, str]:
    """Channel -> listening/stopped/failed: from the engine in this process, else from the
    heartbeats of live nodes (a channel listening on any node is listening)."""
    runtime = call.state.ctx.runtime
    if runtime is not None:
        return dict(runtime.channel_states())
    return channel_states_of(await call.state.ctx.store.node_statuses(), call.now())


def _node(node: NodeStatus, call: Call) -> dict[str, Any]:
    return {
        "node": node.node,
        "pid": node.pid,
        "heartbeat_at": iso(node.heartbeat_at),
        "alive": node.alive(call.now()),
    }


def _channel(name: str, summary: ChannelSummary | None, status: str, call: Call) -> dict[str, Any]:
    config = call.state.ctx.config
    spec = config.channels.get(name)
    s = summary or ChannelSummary(name)
    return {
        "name": name,
        "type": spec.type if spec else None,
        "establishment": spec.establishment if spec else None,
        "status": status,
        "counts": {state.value: s.counts.get(state, 0) for state in MessageState},
        "last_received_at": iso(s.last_received_at),
        "oldest_waiting_at": iso(s.oldest_waiting_at),
        "last_error": s.last_error or None,
        "last_error_at": iso(s.last_error_at),
    }


async def overview(call: Call) -> dict[str, Any]:
    store, config, scope = call.state.ctx.store, call.state.ctx.config, call.scope
    controls = {(c.kind, c.name): c.paused for c in await store.controls()}
    states = await channel_states(call)
    channels = {s.channel: s for s in await store.channel_summaries()}
    names = sorted({*config.channels, *channels})
    channel_items = []
    for name in names:
        if not scope.channel(name):
            continue
        status = states.get(name, "unknown")
        if controls.get(("channel", name)):
            status = "stopped"
        channel_items.append(_channel(name, channels.get(name), status, call))
    destinations = {s.destination: s for s in await store.destination_summaries()}
    circuits = {s.destination: s for s in await store.destination_statuses()}
    dest_items = []
    for name in sorted({*config.destinations, *destinations}):
        if scope.destination(name):
            paused = controls.get(("destination", name), False)
            dest_items.append(_destination(name, destinations.get(name), circuits, paused, call))
    return {
        "generated_at": iso(call.now()),
        "channels": channel_items,
        "destinations": dest_items,
        "nodes": [_node(n, call) for n in await store.node_statuses()],
    }


def _destination(
    name: str,
    summary: DestinationSummary | None,
    circuits: dict[str, Any],
    paused: bool,
    call: Call,
) -> dict[str, Any]:
    spec = call.state.ctx.config.destinations.get(name)
    s = summary or DestinationSummary(name)
    counts = {state.value: s.counts.get(state, 0) for state in DeliveryState}
    circuit = circuits.get(name)
    status = "failing" if s.failed_last and (counts["retrying"] or counts["dead"]) else "ok"
    if circuit is not None and circuit.state in _CIRCUIT_STATUS:
        status = _CIRCUIT_STATUS[circuit.state]
    if paused:
        status = "paused"
    return {
        "name": name,
        "type": spec.type if spec else None,
        "establishment": spec.establishment if spec else None,
        "status": status,
        "counts": counts,
        "backlog": s.waiting,
        "oldest_waiting_at": iso(s.oldest_waiting_at),
        "circuit": {
            "state": circuit.state if circuit else "closed",
            "failures": circuit.failures if circuit else 0,
            "opened_at": iso(circuit.opened_at) if circuit else None,
            "next_probe_at": iso(circuit.next_probe_at) if circuit else None,
        },
        "last_error": s.last_error or None,
        "last_error_at": iso(s.last_error_at),
        "last_sent_at": iso(s.last_sent_at),
    }


async def activity(call: Call) -> dict[str, Any]:
    window = call.query_int("window", 3600, 60, 7 * 86400)
    bucket = call.query_int("bucket", 60, 10, 86400)
    if window // bucket > 1000:
        bucket = -(-window // 1000)
    since = call.now() - timedelta(seconds=window)
    scope: Scope = call.scope
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for b in await call.state.ctx.store.activity(since, bucket):
        visible = scope.channel(b.name) if b.kind == "channel" else scope.destination(b.name)
        if not visible:
            continue
        latency = round(b.latency_sum / b.ok * 1000, 3) if b.ok and b.latency_sum else None
        series.setdefault((b.kind, b.name), []).append(
            {"start": iso(b.start), "ok": b.ok, "failed": b.failed, "latency_ms": latency}
        )
    return {
        "bucket": bucket,
        "since": iso(since),
        "series": [
            {"kind": kind, "name": name, "points": points}
            for (kind, name), points in sorted(series.items())
        ],
    }


def routes() -> list[ApiRoute]:
    return [
        ApiRoute(
            "GET",
            "/api/v1/overview",
            overview,
            "viewer",
            "Channels, destinations and nodes with their counters",
            "Overview",
            tags=("overview",),
        ),
        ApiRoute(
            "GET",
            "/api/v1/activity",
            activity,
            "viewer",
            "Per channel and destination counts per time bucket (sparklines)",
            "Activity",
            params=(
                Param("window", type="integer", description="seconds back (3600)"),
                Param("bucket", type="integer", description="bucket seconds (60)"),
            ),
            tags=("overview",),
        ),
    ]


__all__ = ["channel_states", "routes"]
