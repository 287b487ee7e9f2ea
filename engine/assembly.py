"""Building a running :class:`~engine.app.Engine` from a validated :class:`Config`.

This is the only place that turns configuration into objects: registered types are looked
up by name (no if/elif on type names), routes are compiled for the router, a route's
``map`` or ``transform`` becomes its transform, retry settings become
:class:`~engine.retry.RetryPolicy` values.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from engine.alerting import AlertEvaluator, build_notifiers
from engine.alerts import CommandAlert
from engine.app import Engine, Role
from engine.circuit import CircuitPolicy
from engine.components import Destination, Source
from engine.config.models import WHEN_FIELDS, Config, DestinationSpec
from engine.config.models import RetryPolicy as RetrySettings
from engine.errors import ConfigError
from engine.mapping.routes import build_transforms
from engine.patient_secret import patient_secret
from engine.pipeline import Transform
from engine.queue.base import WorkQueue
from engine.queue.memory import InProcessQueue
from engine.queue.ordering import OrderingRule
from engine.registry import lookup
from engine.reload import Reloader, Rules
from engine.retry import RetryPolicy
from engine.router import CompiledRoute, Router, condition
from engine.store.base import Store
from engine.store.crypto import CLEAR, Keyring, PayloadCipher
from engine.store.retention import RetentionPolicy
from engine.store.sqlite import SqliteStore
from engine.supervisor import WorkerProcesses
from engine.transforms import lookup_transform


def build_cipher(config: Config) -> PayloadCipher:
    """The payload cipher of the configured store (clear when encryption is off).

    Raises:
        ConfigError: the keyring cannot be read or is invalid.
    """
    settings = config.store.encryption
    if settings is None:
        return CLEAR
    if settings.keyring_file is not None:
        return PayloadCipher(Keyring.read(settings.keyring_file))
    return PayloadCipher(Keyring.parse(settings.keyring or "", "store.encryption.keyring"))


def build_store(config: Config) -> Store:
    """The store the configuration names (not opened).

    Raises:
        ConfigError: the encryption keyring cannot be read or is invalid.
    """
    settings = config.store
    cipher = build_cipher(config)
    if settings.backend == "postgres" and settings.dsn:
        from engine.store.postgres import PostgresStore  # psycopg only when asked for

        return PostgresStore(
            settings.dsn,
            min_size=settings.pool.min_size,
            max_size=max(settings.pool.min_size, settings.pool.max_size),
            timeout=settings.pool.timeout,
            cipher=cipher,
        )
    return SqliteStore(settings.path or config.engine.home / "store.db", cipher=cipher)


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


def build_queue(config: Config) -> WorkQueue:
    """The queue the configuration names: in-process (default) or dramatiq on Redis."""
    if config.queue.backend == "dramatiq":
        from engine.queue.dramatiq import DramatiqQueue

        assert config.queue.redis_url is not None  # the model requires it
        return DramatiqQueue(
            config.queue.redis_url,
            namespace=config.queue.namespace,
            prefetch=2 * config.engine.workers,
            dedupe_window=config.queue.requeue_after,
        )
    return InProcessQueue()


def owner_name(config: Config) -> str:
    """``<node>:<pid>``: who holds this process's claims in the store."""
    return f"{config.engine.node or socket.gethostname()}:{os.getpid()}"


def build_engine(
    config: Config,
    *,
    role: Role | None = None,
    queue: WorkQueue | None = None,
    worker_processes: int | None = None,
    source: Path | None = None,
) -> Engine:
    """Instantiate every channel and destination of ``config`` (nothing is started).

    ``role`` defaults to ``intake`` when worker processes are configured (``engine.
    worker_processes``, or ``worker_processes`` here, which wins), else ``all``. Worker
    processes run ``passerelle worker -c source``; with ``source`` SIGHUP and ``passerelle
    reload`` recompile the rules from that file. Claims are taken (owner
    ``<node>:<pid>``) whenever more than one process may run tasks: worker processes, a
    shared queue, or the ``worker`` role.

    Raises:
        ConfigError: a channel or destination type is not registered (cannot happen with a
            config that came from ``load_config``, which checks the types), or a route's
            map or transform cannot be built (``load_config`` reports that too), or worker
            processes are asked for without ``source``.
    """
    processes = config.engine.worker_processes if worker_processes is None else worker_processes
    role = role or (Role.INTAKE if processes > 0 else Role.ALL)
    queue = queue or build_queue(config)
    shared = processes > 0 or config.queue.backend != "memory" or role is Role.WORKER
    children = None
    if processes > 0 and role is not Role.WORKER:
        if source is None:
            raise ConfigError("worker processes need the path of the configuration file")
        feed = queue if config.queue.backend == "memory" else None
        children = WorkerProcesses(processes, source, feed, config.engine.workers)
    sources: list[Source[Any]] = []
    for name, spec in config.channels.items() if role.watches_store else ():
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
        node=(config.engine.node or socket.gethostname()) if role.watches_store else None,
        shutdown_grace=config.engine.shutdown_grace,
        poll_interval=config.engine.poll_interval,
        transforms=rules.transforms,
        queue=queue,
        role=role,
        owner=owner_name(config) if shared else None,
        lease=config.engine.lease,
        requeue_after=config.queue.requeue_after if config.queue.backend != "memory" else 0.0,
        children=children,
        retention=RetentionPolicy(
            config.store.retention.payloads,
            dict(config.store.retention.channels),
            config.store.retention.every,
            config.store.retention.sent_payloads.max_age,
            config.store.retention.sent_payloads.max_bytes,
        ),
        patient_secret=patient_secret(config, create=True),
    )
    if config.engine.alert_command:
        engine.alert_hooks.append(CommandAlert(config.engine.alert_command))
    if role.watches_store:  # it idles without rules; a reload may bring some
        node = engine.node or socket.gethostname()
        engine.alerting = AlertEvaluator(engine.store, config, build_notifiers(config), node=node)
    if source is not None:  # SIGHUP and `passerelle reload` recompile from this file
        engine.reloader = Reloader(engine, source, config)
        engine.reload_hooks.append(lambda: _reload_alerts(engine))
    return engine


def _reload_alerts(engine: Engine) -> None:
    if engine.reloader is not None and engine.alerting is not None:
        engine.alerting.reconfigure(engine.reloader.config)


__all__ = [
    "build_cipher",
    "build_destination",
    "build_engine",
    "build_orderings",
    "build_policies",
    "build_queue",
    "build_route_transforms",
    "build_router",
    "build_rules",
    "build_store",
    "owner_name",
]
