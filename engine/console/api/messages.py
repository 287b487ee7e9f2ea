"""``/api/v1/messages``: search (tenant-scoped, keyset-paged, by patient through the
keyed index) and the detail of one message (metadata, history, deliveries, attempts)."""

from __future__ import annotations

from typing import Any

from engine.console.api.problems import bad_request, conflict, forbidden, not_found
from engine.console.api.routing import ApiRoute, Call, Param, iso
from engine.message import DeliveryState, MessageState
from engine.patient_index import PatientIdKind, patient_key
from engine.store.base import DeliveryRecord, MessageQuery, StoredMessage

MAX_LIMIT = 200
PATIENT_PARAMS = {"ipp": PatientIdKind.IPP, "nda": PatientIdKind.NDA, "ins": PatientIdKind.INS}
_FACT_PREFIXES = ("hl7.", "pam.", "identity.", "ins.", "dmp.", "route", "review", "peer", "tls.")
"""Envelope metadata shown in the detail: routing facts only (never ``intake.key``)."""


def message_type(message: StoredMessage) -> str | None:
    meta = message.envelope.metadata
    code, event = meta.get("hl7.message_type", ""), meta.get("hl7.trigger_event", "")
    if not code:
        return None
    return f"{code}^{event}" if event else code


def item(message: StoredMessage, call: Call) -> dict[str, Any]:
    env = message.envelope
    return {
        "id": env.id,
        "channel": env.channel,
        "establishment": call.scope.channel_establishment(env.channel),
        "state": message.state.value,
        "received_at": iso(env.received_at),
        "updated_at": iso(message.updated_at),
        "control_id": env.metadata.get("hl7.control_id") or None,
        "message_type": message_type(message),
        "reason": message.reason,
    }


def _enum(call: Call, name: str, kind: type[MessageState] | type[DeliveryState]) -> Any:
    value = call.query(name)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(s.value for s in kind)
        raise bad_request(f"{name} must be one of {known}") from None


def _patient(call: Call) -> bytes | None:
    given = [(name, kind) for name, kind in PATIENT_PARAMS.items() if call.query(name)]
    if not given:
        return None
    if not call.me.at_least("operator"):
        raise forbidden("searching by patient identifier needs the operator role")
    if len(given) > 1:
        raise bad_request("search by one patient identifier at a time")
    secret = call.state.ctx.patient_secret
    if not secret:
        raise conflict("patient search is off: set store.patient_index.secret")
    name, kind = given[0]
    return patient_key(secret, kind, call.query(name) or "")


async def search(call: Call) -> dict[str, Any]:
    scope = call.scope
    limit = call.query_int("limit", 50, 1, MAX_LIMIT)
    channel, destination = call.query("channel"), call.query("destination")
    key = _patient(call)
    channels = scope.channels()
    hidden = (channel is not None and not scope.channel(channel)) or (
        destination is not None and not scope.destination(destination)
    )
    if hidden:
        return {"items": [], "next": None}
    query = MessageQuery(
        channel=channel,
        state=_enum(call, "state", MessageState),
        since=call.query_time("since"),
        until=call.query_time("until"),
        control_id=call.query("control_id"),
        destination=destination,
        delivery_state=_enum(call, "delivery_state", DeliveryState),
        limit=limit + 1,
        channels=channels,
        route=call.query("route"),
        patient_key=key,
        before_id=call.query("before"),
    )
    found = await call.state.ctx.store.list_messages(query)
    more = len(found) > limit
    found = found[:limit]
    return {
        "items": [item(m, call) for m in found],
        "next": found[-1].envelope.id if more and found else None,
    }


async def visible_message(call: Call, message_id: str) -> StoredMessage:
    """The message when it exists and is in the caller's scope; 404 otherwise."""
    from engine.errors import NotFound

    try:
        message = await call.state.ctx.store.get_message(message_id)
    except NotFound:
        raise not_found("such message") from None
    if not call.scope.channel(message.envelope.channel):
        raise not_found("such message")
    return message


async def _delivery(record: DeliveryRecord, call: Call) -> dict[str, Any]:
    attempts = await call.state.ctx.store.attempts(record.id)
    return {
        "id": record.id,
        "destination": record.destination,
        "route": record.route,
        "state": record.state.value,
        "attempts": record.attempts,
        "last_error": record.last_error or None,
        "next_attempt_at": iso(record.next_attempt_at),
        "released": record.released,
        "attempt_log": [
            {"number": a.number, "at": iso(a.at), "outcome": a.outcome.value, "detail": a.detail}
            for a in attempts
        ],
    }


async def detail(call: Call) -> dict[str, Any]:
    message = await visible_message(call, call.path("id"))
    store = call.state.ctx.store
    history = await store.history(message.envelope.id)
    deliveries = [
        await _delivery(d, call)
        for d in await store.deliveries(message.envelope.id)
        if call.scope.destination(d.destination)
    ]
    facts = {
        k: v[:200]
        for k, v in sorted(message.envelope.metadata.items())
        if k.startswith(_FACT_PREFIXES)
    }
    return {
        **item(message, call),
        "content_type": message.envelope.content_type,
        "metadata": facts,
        "history": [
            {
                "at": iso(t.at),
                "from": t.from_state.value if t.from_state else None,
                "to": t.to_state.value,
                "reason": t.reason,
            }
            for t in history
        ],
        "deliveries": deliveries,
    }


_FILTERS = (
    Param("state", description="message state"),
    Param("channel"),
    Param("route"),
    Param("destination"),
    Param("delivery_state", description="with destination: state of that delivery"),
    Param("since", description="ISO 8601 time"),
    Param("until", description="ISO 8601 time"),
    Param("control_id", description="MSH-10"),
    Param("ipp", description="patient IPP (operator)"),
    Param("nda", description="visit number (operator)"),
    Param("ins", description="INS matricule (operator)"),
    Param("before", description="cursor: the `next` of the previous page"),
    Param("limit", type="integer", description=f"page size (50, at most {MAX_LIMIT})"),
)


def routes() -> list[ApiRoute]:
    return [
        ApiRoute(
            "GET",
            "/api/v1/messages",
            search,
            "viewer",
            "Search messages, newest first (patient filters need operator)",
            "MessagePage",
            params=_FILTERS,
            tags=("messages",),
        ),
        ApiRoute(
            "GET",
            "/api/v1/messages/{id}",
            detail,
            "viewer",
            "A message: routing facts, history, deliveries and attempts",
            "MessageDetail",
            tags=("messages",),
        ),
    ]


__all__ = ["item", "routes", "visible_message"]
