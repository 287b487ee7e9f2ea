"""What a replay would do now, without doing it (``replay --dry-run``, the console).

The stored message is routed with the router built from the configuration in force (the
routes, ``when`` conditions and deferred PAM-FR facts as the pipeline uses them), and the
store's replay rule (:func:`engine.store._semantics.replay_scope`) says whether it would
be replayed at all. Nothing is written. The preview names routes, destinations and maps:
no patient data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from engine.config.models import Config
from engine.errors import PasserelleError
from engine.pipeline import deferred_facts
from engine.store._semantics import replay_scope
from engine.store.base import Store


@dataclass(frozen=True, slots=True)
class PreviewRoute:
    """One delivery the replay would make: ``mapping`` is the route's map or transform
    name ("" when the message is delivered unchanged)."""

    route: str
    destination: str
    mapping: str = ""


@dataclass(frozen=True, slots=True)
class ReplayPreview:
    """The dry run of one replay.

    Attributes:
        message_id: the message.
        would_replay: the store would take the replay (a finished, not purged, not
            rejected message).
        note: why not, or what state it would leave (``error → received``).
        outcome: the routing verdict now (``routed``, ``filtered``, ``unmatched``) or
            ``error`` when routing fails; ``reason`` says which routes or why.
        routes: the deliveries it would make, in route order (only to ``destination``
            when one was given).
    """

    message_id: str
    would_replay: bool
    note: str
    outcome: str = ""
    reason: str = ""
    routes: tuple[PreviewRoute, ...] = field(default_factory=tuple)


async def preview_replay(
    store: Store, config: Config, message_id: str, destination: str | None = None
) -> ReplayPreview:
    """Route ``message_id`` again on paper with ``config``.

    Raises:
        NotFound: no such message.
        StoreError: the store cannot be read.
    """
    from engine.assembly import build_router

    stored = await store.get_message(message_id)
    result, _ = replay_scope(
        message_id, stored.state, not stored.envelope.raw, destination, False, "dry run"
    )
    preview = ReplayPreview(message_id, result.replayed, result.note)
    if not stored.envelope.raw:
        return preview
    envelope = stored.envelope
    try:
        facts = deferred_facts(envelope)
        if facts:
            envelope = dataclasses.replace(envelope, metadata={**envelope.metadata, **facts})
        outcome = build_router(config).route(envelope)
    except PasserelleError as exc:
        return dataclasses.replace(preview, outcome="error", reason=f"routing failed: {exc}")
    by_name = {route.name: route for route in config.routes}
    routes = []
    for dest, route_name in outcome.deliveries:
        if destination is not None and dest != destination:
            continue
        route = by_name.get(route_name)
        mapping = (route.map or route.transform or "") if route is not None else ""
        routes.append(PreviewRoute(route_name, dest, mapping))
    return dataclasses.replace(
        preview, outcome=outcome.state.value, reason=outcome.reason, routes=tuple(routes)
    )


__all__ = ["PreviewRoute", "ReplayPreview", "preview_replay"]
