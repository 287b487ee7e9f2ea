"""Maps named by routes: where they are found, how ``passerelle check`` reports them, and the
transforms the engine applies.

A route's ``map: NAME`` is the file ``<engine.mappings>/NAME.yaml`` (``mappings/`` by default,
relative to the working directory like every path of ``routes.yaml``); its code tables are in
``<engine.mappings>/tables/``. Each map is compiled once, however many routes use it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.config.diagnostics import did_you_mean
from engine.config.document import Document
from engine.mapping.loader import build_map, compile_map
from engine.mapping.runtime import CompiledMap

if TYPE_CHECKING:
    from engine.config.models import Config
    from engine.pipeline import Transform

log = logging.getLogger(__name__)
DEFAULT_DIRECTORY = Path("mappings")


def available_maps(directory: Path) -> list[str]:
    """Names of the maps in ``directory`` (``*.yaml`` except ``*_test.yaml``)."""
    try:
        files = sorted(directory.glob("*.yaml"))
    except OSError:
        return []
    return [p.stem for p in files if not p.stem.endswith("_test")]


def check_route_maps(doc: Document) -> None:
    """Report, at each route's ``map:``, a map that is missing or has errors; the map
    file's own diagnostics follow (with their own file, line and column)."""
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("routes"), list):
        return
    engine = data.get("engine")
    raw_dir = engine.get("mappings") if isinstance(engine, dict) else None
    directory = Path(raw_dir) if isinstance(raw_dir, str) and raw_dir else DEFAULT_DIRECTORY
    results: dict[str, tuple[bool, int]] = {}
    for i, route in enumerate(data["routes"]):
        name = route.get("map") if isinstance(route, dict) else None
        if not isinstance(name, str) or not name:
            continue
        at = ("routes", i, "map")
        path = directory / f"{name}.yaml"
        if not path.is_file():
            known = available_maps(directory)
            listed = ", ".join(known) if known else "none"
            message = (
                f"route {route.get('name')!r} uses map {name!r}: {path} not found"
                f"{did_you_mean(name, known)} (maps in {directory}: {listed})"
            )
            doc.error(at, "unknown-map", message)
            continue
        if name not in results:
            _, diagnostics = build_map(path)
            doc.diagnostics.extend(diagnostics)
            errors = sum(1 for d in diagnostics if d.is_error)
            results[name] = (errors == 0, errors)
        ok, errors = results[name]
        if not ok:
            message = f"map {name!r} ({path}) has {errors} error(s): see below"
            doc.error(at, "invalid-map", message)


def mappings_directory(config: Config) -> Path:
    """The maps directory of a configuration."""
    return Path(getattr(config.engine, "mappings", DEFAULT_DIRECTORY))


def build_transforms(config: Config, *, root: Path | None = None) -> dict[str, Transform]:
    """The transform of every route that has a ``map`` (compiled once per map).

    Args:
        config: the validated configuration.
        root: base directory for a relative ``engine.mappings`` (the working directory when
            None), e.g. the repository root for ``passerelle test``.

    Raises:
        ConfigError: a map is missing or has errors (``passerelle check`` reports the same).
    """
    directory = mappings_directory(config)
    if root is not None and not directory.is_absolute():
        directory = root / directory
    compiled: dict[str, CompiledMap] = {}
    transforms: dict[str, Transform] = {}
    for route in config.routes:
        name: Any = getattr(route, "map", None)
        if not name:
            continue
        if name not in compiled:
            compiled[name] = compile_map(directory / f"{name}.yaml")
            log.debug("Map compiled.", extra={"map": name, "route": route.name})
        validate = bool(getattr(route, "validate_", True))
        transforms[route.name] = compiled[name].to_transform(validate=validate)
    return transforms


__all__ = [
    "DEFAULT_DIRECTORY",
    "available_maps",
    "build_transforms",
    "check_route_maps",
    "mappings_directory",
]
