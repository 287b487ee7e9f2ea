"""Building a running :class:`~engine.app.Engine` from a validated :class:`Config`.

This is the only place that turns configuration into objects: registered types are looked
up by name (no if/elif on type names), routes are compiled for the router, a route's
``map`` or ``transform`` becomes its transform, retry settings become
:class:`~engine.retry.RetryPolicy` values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.alerts import CommandAlert
from engine.app import Engine
from engine.circuit import CircuitPolicy
from engine.components import Destination, Source
from engine.config.models import WHEN_FIELDS, Config, DestinationSpec
from engine.config.models import RetryPolicy as RetrySettings
from engine.errors import ConfigError
from engine.mapping.routes import build_transforms
from engine.pipeline import Transform
from engine.queue.ordering import OrderingRule
from engine.registry import lookup
from engine.reload import Reloader, Rules
from engine.retry import RetryPolicy
from engine.router import CompiledRoute, Router, condition
from engine.store.base import Store
from engine.store.sqlite import SqliteStore
from engine.transforms import lookup_transform


def build_store(config: Config) -> Store:
    """The store the configuration names (not opened)."""
    path = config.store.path or config.engine.home / "store.db"
    return SqliteStore(path)


def build_router(config: Config) -> Router:
    routes = []
    for route in config.routes:
        conditions = tuple(
            condition(WHEN_FIELDS[key], values)
            for key, values in (route.when.conditions() if route.when else {}).items()
        )
        routes.append(
            CompiledRoute(
                name=route.name,
                channels=frozenset(route.from_) if route.from_ is not None else None,
                conditions=conditions,
                destinations=tuple(route.to or ()),
                drop=route.drop,
                continue_=route.continue_,
            )
        )
    return Router(routes)


def build_route_transforms(config: Config) -> dict[str, Transform]:
    """Every route's transform by route name: its compiled ``map`` or its named ``transform``.

    Raises:
        ConfigError: a map cannot be compiled, a transform is not registered, or a route
            gives both ``map`` and ``transform`` (``load_config`` reports all of these).
    """
    transforms = build_transforms(config)
    for route in config.routes:
        if route.transform is None:
            continue
        if route.map is not None:
            raise ConfigError(f"route '{route.name}': give 'map' or 'transform', not both")
        kind = lookup_transform(route.transform)
        if kind is None:
            raise ConfigError(f"route '{route.name}': unknown transform '{route.transform}'")
        transforms[route.name] = kind.create()
    return transforms


def _policy(settings: RetrySettings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.max_attempts,
        initial_backoff=settings.initial_backoff,
        max_backoff=settings.max_backoff,
        max_age=settings.max_age,
    )


def _circuit(settings: RetrySettings) -> CircuitPolicy:
    c = settings.circuit
    return CircuitPolicy(c.failures, c.probe_interval, c.max_probe_interval, c.enabled)


def build_policies(
    config: Config,
) -> tuple[dict[str, RetryPolicy], RetryPolicy, dict[str, CircuitPolicy], CircuitPolicy]:
    """Retry and circuit policies per destination, and the defaults, from ``retry``."""
    effective = {name: config.retry_for(name) for name in config.destinations}
    return (
        {name: _policy(settings) for name, settings in effective.items()},
        _policy(config.retry),
        {name: _circuit(settings) for name, settings in effective.items()},
        _circuit(config.retry),
    )


def build_destination(name: str, spec: DestinationSpec) -> Destination[Any]:
    """Instantiate one destination (not opened). Raises ConfigError for an unknown type."""
    kind = lookup("destination", spec.type)
    if kind is None:
        raise ConfigError(f"destination '{name}': unknown type '{spec.type}'")
    destination: Destination[Any] = kind.factory(name, spec.config)
    return destination


def build_orderings(config: Config) -> dict[str, OrderingRule]:
    return {
        name: OrderingRule(spec.ordering.key, spec.ordering.on_dead)
        for name, spec in config.destinations.items()
        if spec.ordering is not None
    }


def build_rules(config: Config) -> Rules:
    """What a configuration reload replaces: routes, maps, orderings, retry and circuit
    policies (see :mod:`engine.reload`). Raises ConfigError as :func:`build_engine`."""
    policies, default_policy, circuits, default_circuit = build_policies(config)
    return Rules(
        router=build_router(config),
        transforms=build_route_transforms(config),
        orderings=build_orderings(config),
        policies=policies,
        default_policy=default_policy,
        circuits=circuits,
        default_circuit=default_circuit,
    )


def build_engine(config: Config, *, source: Path | None = None) -> Engine:
    """Instantiate every channel and destination of ``config`` (nothing is started).

    Raises:
        ConfigError: a channel or destination type is not registered (cannot happen with a
            config that came from ``load_config``, which checks the types), or a route's
            map or transform cannot be built (``load_config`` reports that too).
    """
    sources: list[Source[Any]] = []
    for name, spec in config.channels.items():
        kind = lookup("source", spec.type)
        if kind is None:
            raise ConfigError(f"channel '{name}': unknown type '{spec.type}'")
        sources.append(kind.factory(name, spec.config))
    destinations = {name: build_destination(name, d) for name, d in config.destinations.items()}
    rules = build_rules(config)
    engine = Engine(
        store=build_store(config),
        router=rules.router,
        sources=sources,
        destinations=destinations,
        policies=rules.policies,
        default_policy=rules.default_policy,
        circuits=rules.circuits,
        default_circuit=rules.default_circuit,
        orderings=rules.orderings,
        workers=config.engine.workers,
        shutdown_grace=config.engine.shutdown_grace,
        poll_interval=config.engine.poll_interval,
        transforms=rules.transforms,
    )
    if config.engine.alert_command:
        engine.alert_hooks.append(CommandAlert(config.engine.alert_command))
    if source is not None:  # SIGHUP and `passerelle reload` recompile from this file
        engine.reloader = Reloader(engine, source, config)
    return engine


__all__ = [
    "build_destination",
    "build_engine",
    "build_orderings",
    "build_policies",
    "build_route_transforms",
    "build_router",
    "build_rules",
    "build_store",
]
