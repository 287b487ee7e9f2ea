"""Payload views (operator role, audited ``payload.view``): the raw message, the ACK, and
what each attempt of a delivery sent and received. Viewers get 403."""

from __future__ import annotations

from typing import Any

from engine.console.api.messages import visible_message
from engine.console.api.problems import not_found
from engine.console.api.render import payload_view, raw_view
from engine.console.api.routing import ApiRoute, Call
from engine.errors import NotFound
from engine.message import MessageState

_ACK_CODES = {MessageState.REJECTED: "AE or AR"}


async def raw(call: Call) -> dict[str, Any]:
    message = await visible_message(call, call.path("id"))
    await call.audit("payload.view", message.envelope.id, detail="raw")
    return raw_view(message.envelope)


async def ack(call: Call) -> dict[str, Any]:
    message = await visible_message(call, call.path("id"))
    await call.audit("payload.view", message.envelope.id, detail="ack")
    code = _ACK_CODES.get(message.state, "AA (or CA)")
    return {
        "ack": None,
        "note": f"the engine does not keep the ACK it sent; for a message {message.state.value}"
        f" it answered {code}",
    }


async def attempt_payloads(call: Call) -> dict[str, Any]:
    store = call.state.ctx.store
    delivery_id = call.path("delivery_id")
    try:
        delivery = await store.get_delivery(delivery_id)
    except NotFound:
        raise not_found("such delivery") from None
    if not call.scope.destination(delivery.destination):
        raise not_found("such delivery")
    await visible_message(call, delivery.message_id)
    await call.audit("payload.view", delivery.id, detail="attempts")
    items = [
        {"number": p.number, "sent": payload_view(p.sent), "response": payload_view(p.response)}
        for p in await store.attempt_payloads(delivery.id)
    ]
    note = (
        "an attempt without a sent payload sent the stored message itself"
        if items
        else "no payload kept (sent as received, or removed by retention)"
    )
    return {"items": items, "note": note}


def routes() -> list[ApiRoute]:
    return [
        ApiRoute(
            "GET",
            "/api/v1/messages/{id}/raw",
            raw,
            "operator",
            "The raw message decoded with its charset, segments laid out (audited)",
            "RawMessage",
            tags=("messages",),
            audit="payload.view",
        ),
        ApiRoute(
            "GET",
            "/api/v1/messages/{id}/ack",
            ack,
            "operator",
            "The acknowledgement returned to the sender (audited)",
            "Ack",
            tags=("messages",),
            audit="payload.view",
        ),
        ApiRoute(
            "GET",
            "/api/v1/deliveries/{delivery_id}/payloads",
            attempt_payloads,
            "operator",
            "What each attempt sent and the peer answered (audited)",
            "AttemptPayloads",
            tags=("messages",),
            audit="payload.view",
        ),
    ]


__all__ = ["routes"]
