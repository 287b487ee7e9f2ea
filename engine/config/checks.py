"""Graph checks over the routes, channels and destinations of a parsed document.

They run on the raw data, whether or not model validation succeeded, so that one run
reports everything; values of the wrong shape are skipped here (validation reports them).
Every problem is collected; nothing stops at the first one.

Errors: unknown channel in ``from`` or ``when.channel``, unknown destination in ``to``,
duplicate route names, misuse of ``_unmatched`` (has ``when``/``from``/``drop``/
``continue``, or is not last), ``drop`` with ``to``, ``drop`` with ``continue``, no
destination without ``drop``, unknown ``transform``, ``map`` with ``transform``.
Warnings: routes after a catch-all (unreachable), destinations no route uses, the same
destination twice in ``to``, the same payload sent to one destination by a ``continue``
route and a later route (delivered twice: each (route, destination) pair is its own
delivery), no routes at all.
"""

from __future__ import annotations

from typing import Any

from engine.config.alerting import check_alert_refs
from engine.config.diagnostics import did_you_mean
from engine.config.document import DataPath, Document
from engine.config.models import UNMATCHED


def check_graph(doc: Document) -> None:
    """Append every graph problem of ``doc.data`` to ``doc.diagnostics``."""
    data = doc.data
    if not isinstance(data, dict):
        return
    from engine.mapping.routes import check_route_maps  # maps: missing or with errors

    check_route_maps(doc)
    check_alert_refs(doc)
    channels = _names(data.get("channels"))
    destinations = _names(data.get("destinations"))
    routes = data.get("routes")
    if routes is None or routes == []:
        if channels:
            at: DataPath = ("routes",) if "routes" in data else ()
            doc.warning(at, "no-routes", "no routes: every message will end 'unmatched'", key=True)
        return
    if not isinstance(routes, list):
        return
    used: set[str] = set()
    names: dict[str, int] = {}
    catch_all: str | None = None
    last = len(routes) - 1
    for i, route in enumerate(routes):
        if not isinstance(route, dict):
            continue
        path: DataPath = ("routes", i)
        name = route.get("name")
        label = f"route {name!r}" if isinstance(name, str) else f"routes[{i}]"
        if isinstance(name, str):
            if name in names:
                line, _ = doc.position(("routes", names[name], "name"))
                message = (
                    f"route name {name!r} is already used by routes[{names[name]}] (line {line})"
                )
                doc.error((*path, "name"), "duplicate-route", message)
            else:
                names[name] = i
        if catch_all is not None:
            message = (
                f"{label} is unreachable: route {catch_all!r} above matches every message"
                " and does not continue"
            )
            doc.warning(path, "unreachable-route", message)
        _check_channels(doc, path, label, route, channels)
        _check_transform(doc, path, label, route)
        used.update(_check_targets(doc, path, label, route, destinations))
        if name == UNMATCHED:
            _check_unmatched(doc, path, route, is_last=i == last)
        elif catch_all is None and _is_catch_all(route):
            catch_all = name if isinstance(name, str) else f"routes[{i}]"
    _check_twice(doc, routes)
    declared = data["destinations"] if isinstance(data.get("destinations"), dict) else {}
    for name in (str(d) for d in declared if str(d) not in used):
        message = f"destination {name!r} is not used by any route"
        doc.warning(("destinations", name), "unused-destination", message, key=True)


def _names(section: Any) -> set[str]:
    return {str(k) for k in section} if isinstance(section, dict) else set()


def _strings(value: Any) -> list[tuple[int | None, str]]:
    """(index, text) of a string or of each string in a list; index None for a lone string."""
    if isinstance(value, str):
        return [(None, value)]
    if isinstance(value, list):
        return [(j, item) for j, item in enumerate(value) if isinstance(item, str)]
    return []


def _at(path: DataPath, index: int | None) -> DataPath:
    return path if index is None else (*path, index)


def _check_channels(
    doc: Document, path: DataPath, label: str, route: dict[str, Any], channels: set[str]
) -> None:
    when = route.get("when")
    refs = [(_at((*path, "from"), j), ch) for j, ch in _strings(route.get("from"))]
    if isinstance(when, dict):
        refs += [
            (_at((*path, "when", "channel"), j), ch) for j, ch in _strings(when.get("channel"))
        ]
    for at, channel in refs:
        if channel not in channels:
            hint = did_you_mean(channel, channels)
            message = f"{label} reads from unknown channel {channel!r}{hint}"
            doc.error(at, "unknown-channel", message)


def _check_targets(
    doc: Document, path: DataPath, label: str, route: dict[str, Any], destinations: set[str]
) -> set[str]:
    drop = route.get("drop") is True
    targets = _strings(route.get("to"))
    if drop and "to" in route:
        message = f"{label} drops messages, so it cannot also send them: remove 'to'"
        doc.error((*path, "to"), "drop-with-to", message, key=True)
    elif not drop and route.get("to") in (None, []):
        at = (*path, "to") if "to" in route else path
        message = f"{label} has no destination: give 'to: [...]' or 'drop: true'"
        doc.error(at, "no-destination", message, key="to" in route)
    if drop and route.get("continue") is True and route.get("name") != UNMATCHED:
        message = f"{label} drops messages, so it cannot continue to the next routes"
        doc.error((*path, "continue"), "drop-continue", message, key=True)
    seen: set[str] = set()
    for j, target in targets:
        at = _at((*path, "to"), j)
        if target not in destinations:
            hint = did_you_mean(target, destinations)
            doc.error(at, "unknown-destination", f"{label} sends to {target!r}{hint}")
        elif target in seen:
            doc.warning(at, "duplicate-destination", f"{label} sends to {target!r} twice")
        seen.add(target)
    return seen


def _check_transform(doc: Document, path: DataPath, label: str, route: dict[str, Any]) -> None:
    """``transform`` names a registered transform, and is not given with ``map``."""
    if "map" in route and "transform" in route:
        message = f"{label} has both 'map' and 'transform': a route applies one of them"
        doc.error(path, "map-and-transform", message)
    name = route.get("transform")
    if not isinstance(name, str) or not name:
        return
    from engine.transforms import lookup_transform, transform_names  # loads the built-ins

    if lookup_transform(name) is None:
        known = transform_names()
        listed = ", ".join(known) if known else "none"
        message = (
            f"{label} uses unknown transform {name!r}{did_you_mean(name, known)}"
            f" (built-in transforms: {listed})"
        )
        doc.error((*path, "transform"), "unknown-transform", message)


def _check_unmatched(
    doc: Document, path: DataPath, route: dict[str, Any], *, is_last: bool
) -> None:
    for key in ("when", "from", "drop", "continue"):
        if key in route and not (key in ("drop", "continue") and route[key] is False):
            message = (
                f"the reserved route '_unmatched' takes no '{key}':"
                " it receives what no route matched"
            )
            doc.error((*path, key), "reserved-route", message, key=True)
    if not is_last:
        doc.error(
            (*path, "name"),
            "reserved-route",
            "the reserved route '_unmatched' must be the last route",
        )


def _check_twice(doc: Document, routes: list[Any]) -> None:
    """Each (route, destination) pair is its own delivery: a later route sending the same
    payload (same map or transform, or none) to a destination an earlier ``continue`` route
    already sends to would deliver a message matching both twice."""
    earlier: dict[tuple[str, Any], tuple[str, int]] = {}  # (destination, payload) -> route
    for i, route in enumerate(routes):
        if not isinstance(route, dict) or route.get("drop") is True:
            continue
        if route.get("name") == UNMATCHED:
            continue  # gets only what no route matched
        name = route.get("name") if isinstance(route.get("name"), str) else f"routes[{i}]"
        payload = (route.get("map"), route.get("transform"))
        for j, target in _strings(route.get("to")):
            first = earlier.get((target, payload))
            if first is not None and first[0] != name:
                what = f"map {payload[0]!r}" if payload[0] else "the same payload"
                line, _ = doc.position(("routes", first[1], "name"))
                message = (
                    f"route {name!r} sends {what} to {target!r} as route {first[0]!r} (line"
                    f" {line}) does, which continues: a message matching both is delivered"
                    " twice; narrow one route's 'when' or remove the destination from one"
                )
                doc.warning(_at(("routes", i, "to"), j), "delivered-twice", message)
        if route.get("continue") is True:
            for _, target in _strings(route.get("to")):
                earlier.setdefault((target, payload), (str(name), i))


def _is_catch_all(route: dict[str, Any]) -> bool:
    when = route.get("when")
    no_conditions = when is None or (
        isinstance(when, dict) and not any(v is not None for v in when.values())
    )
    return "from" not in route and no_conditions and route.get("continue") is not True


__all__ = ["check_graph"]
