"""Operator actions (audited): replay (or its dry run), release a dead letter, pause and
resume a destination, stop and start a channel, and (admin) reload the configuration.

Standing orders are written to the store; the engine in this process applies them at
once (:meth:`EngineRuntime.apply_controls`), an engine elsewhere on its next poll.
"""

from __future__ import annotations

import importlib
from typing import Any

from engine.console.api.messages import visible_message
from engine.console.api.overview import channel_states
from engine.console.api.problems import bad_request, conflict, forbidden, not_found
from engine.console.api.routing import ApiRoute, Call
from engine.errors import ConfigError, NotFound, StoreError
from engine.store.console import Control


async def replay(call: Call) -> dict[str, Any]:
    body = await call.body()
    destination = body.get("destination")
    resend, dry_run = body.get("resend_sent", False), body.get("dry_run", False)
    if destination is not None and not isinstance(destination, str):
        raise bad_request("destination must be a name")
    if not isinstance(resend, bool) or not isinstance(dry_run, bool):
        raise bad_request("resend_sent and dry_run are booleans")
    message = await visible_message(call, call.path("id"))
    if destination is not None and not call.scope.destination(destination):
        raise not_found("such destination")
    ctx = call.state.ctx
    if destination is None and call.scope.restricted and not dry_run:
        others = [
            d
            for d in await ctx.store.deliveries(message.envelope.id)
            if not call.scope.destination(d.destination)
        ]
        if others:
            raise forbidden(
                "this message also goes to destinations outside your establishments:"
                " replay it to one of yours (destination)"
            )
    if dry_run:
        preview = importlib.import_module("engine.replay_preview").preview_replay
        result = await preview(ctx.store, ctx.config, message.envelope.id, destination)
        return _preview_json(result)
    outcome = await ctx.store.request_replay(
        message.envelope.id,
        destination=destination,
        resend_sent=resend,
        reason=f"replayed by {call.me.actor}",
    )
    detail = f"destination={destination}" if destination else "all destinations"
    await call.audit("replay", message.envelope.id, "ok" if outcome.replayed else "failed", detail)
    return {"replayed": outcome.replayed, "note": outcome.note}


def _preview_json(result: Any) -> dict[str, Any]:
    """The dry run's answer, from :func:`engine.replay_preview.preview_replay`."""
    if isinstance(result, dict):
        return result
    routes = [
        {"route": r.route, "destination": r.destination, "mapping": getattr(r, "mapping", None)}
        for r in getattr(result, "routes", ())
    ]
    return {
        "routes": routes,
        "would_replay": bool(getattr(result, "would_replay", False)),
        "note": str(getattr(result, "note", "")),
    }


async def release(call: Call) -> dict[str, Any]:
    store = call.state.ctx.store
    try:
        delivery = await store.get_delivery(call.path("delivery_id"))
    except NotFound:
        raise not_found("such delivery") from None
    if not call.scope.destination(delivery.destination):
        raise not_found("such delivery")
    await visible_message(call, delivery.message_id)
    try:
        record = await store.release_delivery(delivery.id, f"released by {call.me.actor}")
    except NotFound:
        raise not_found("such delivery") from None
    except StoreError as exc:
        await call.audit("release", delivery.id, "failed", "not dead")
        raise conflict("only a dead delivery can be released") from exc
    await call.audit("release", delivery.id)
    return {"id": record.id, "state": record.state.value, "released": record.released}


async def _control(call: Call, kind: str, name: str, paused: bool) -> None:
    ctx = call.state.ctx
    await ctx.store.set_control(Control(kind, name, paused, call.me.actor, call.now()))
    action = {
        ("destination", True): "destination.pause",
        ("destination", False): "destination.resume",
        ("channel", True): "channel.stop",
        ("channel", False): "channel.start",
    }[kind, paused]
    await call.audit(action, name)
    if ctx.runtime is not None:
        await ctx.runtime.apply_controls()


def _known_destination(call: Call) -> str:
    name = call.path("name")
    if name not in call.state.ctx.config.destinations or not call.scope.destination(name):
        raise not_found("such destination")
    return name


def _known_channel(call: Call) -> str:
    name = call.path("name")
    if name not in call.state.ctx.config.channels or not call.scope.channel(name):
        raise not_found("such channel")
    return name


async def pause(call: Call) -> dict[str, Any]:
    name = _known_destination(call)
    await _control(call, "destination", name, True)
    return {"name": name, "paused": True}


async def resume(call: Call) -> dict[str, Any]:
    name = _known_destination(call)
    await _control(call, "destination", name, False)
    return {"name": name, "paused": False}


async def _channel(call: Call, stop: bool) -> dict[str, Any]:
    name = _known_channel(call)
    await _control(call, "channel", name, stop)
    states = await channel_states(call) if call.state.ctx.runtime is not None else {}
    return {"name": name, "status": states.get(name, "stopped" if stop else "starting")}


async def stop(call: Call) -> dict[str, Any]:
    return await _channel(call, True)


async def start(call: Call) -> dict[str, Any]:
    return await _channel(call, False)


async def reload(call: Call) -> dict[str, Any]:
    runtime = call.state.ctx.runtime
    if runtime is None:
        await call.audit("config.reload", "routes.yaml", "failed", "no engine in this process")
        raise conflict("this console runs beside the engine: use `passerelle reload`")
    try:
        summary = await runtime.reload()
    except ConfigError as exc:
        await call.audit("config.reload", "routes.yaml", "failed", "invalid configuration")
        raise conflict(f"the configuration was refused: {exc}") from exc
    await call.audit("config.reload", "routes.yaml")
    return {"reloaded": True, "summary": summary}


def routes() -> list[ApiRoute]:
    return [
        ApiRoute(
            "POST",
            "/api/v1/messages/{id}/replay",
            replay,
            "operator",
            "Replay a message (or preview it with dry_run)",
            "ReplayResult",
            body="ReplayRequest",
            tags=("actions",),
            audit="replay",
        ),
        ApiRoute(
            "POST",
            "/api/v1/deliveries/{delivery_id}/release",
            release,
            "operator",
            "Release a dead delivery: later messages of its key go on",
            "Released",
            tags=("actions",),
            audit="release",
        ),
        ApiRoute(
            "POST",
            "/api/v1/destinations/{name}/pause",
            pause,
            "operator",
            "Pause a destination (deliveries wait)",
            "DestinationControl",
            tags=("actions",),
            audit="destination.pause",
        ),
        ApiRoute(
            "POST",
            "/api/v1/destinations/{name}/resume",
            resume,
            "operator",
            "Resume a paused destination",
            "DestinationControl",
            tags=("actions",),
            audit="destination.resume",
        ),
        ApiRoute(
            "POST",
            "/api/v1/channels/{name}/stop",
            stop,
            "operator",
            "Stop a channel (its listener closes)",
            "ChannelControl",
            tags=("actions",),
            audit="channel.stop",
        ),
        ApiRoute(
            "POST",
            "/api/v1/channels/{name}/start",
            start,
            "operator",
            "Start a stopped channel",
            "ChannelControl",
            tags=("actions",),
            audit="channel.start",
        ),
        ApiRoute(
            "POST",
            "/api/v1/reload",
            reload,
            "admin",
            "Reload routes.yaml in the engine of this process",
            "Reloaded",
            tags=("admin",),
            audit="config.reload",
        ),
    ]


__all__ = ["routes"]
