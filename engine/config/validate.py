"""Validation of a parsed document against the models, with errors mapped to positions.

Two steps. First each channel and destination entry is checked on its own: its ``type``
is looked up in the registry (an unknown type is reported with the known ones), then the
remaining keys are validated by the type's config model. Then the whole file is
validated by :class:`~engine.config.models.Config`, with those entries already built.
Every pydantic error becomes a :class:`Diagnostic` at the key or value it concerns;
nothing stops at the first error.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from engine import registry
from engine.components import ComponentConfig
from engine.config.diagnostics import did_you_mean
from engine.config.document import DataPath, Document
from engine.config.models import NAME_PATTERN, ROUTE_NAME_PATTERN, Config, When

_SECTIONS: dict[str, registry.Kind] = {"channels": "source", "destinations": "destination"}
_ENTRY_KEYS: dict[str, tuple[str, ...]] = {
    "channels": ("type", "establishment"),
    "destinations": ("type", "retry", "ordering", "establishment"),
}
_LABELS = {"channels": "channel", "destinations": "destination"}
_NAME_PATTERNS = (NAME_PATTERN, ROUTE_NAME_PATTERN)


def build_config(doc: Document) -> Config | None:
    """Validate ``doc.data``; problems are appended to ``doc.diagnostics``.

    Returns:
        The config, or None when any problem was found at this stage.
    """
    data = doc.data
    if data is None:
        if not doc.diagnostics:
            doc.error((), "missing-key", "the file is empty: it needs at least 'version: 1'")
        return None
    before = len(doc.diagnostics)
    prepared = _textify_conditions(data, doc)
    if isinstance(prepared, dict):
        for section in _SECTIONS:
            entries = prepared.get(section)
            if isinstance(entries, dict):
                prepared[section] = {
                    name: _component(doc, section, name, entry) for name, entry in entries.items()
                }
    config: Config | None = None
    try:
        config = Config.model_validate(prepared)
    except ValidationError as exc:
        report_errors(doc, exc.errors(), root=Config, prefix=())
    if config is not None:
        _check_retry_overrides(doc, config)
    return config if len(doc.diagnostics) == before else None


def _component(doc: Document, section: str, name: str, entry: Any) -> Any:
    """Validate one flat channel/destination entry into ``{"type", "config", ...}``."""
    if not isinstance(entry, dict):
        return entry  # the Config model reports "expected a mapping"
    kind, label, path = _SECTIONS[section], _LABELS[section], (section, name)
    known = [t.name for t in registry.types_of(kind)]
    known_text = ", ".join(known) if known else "none registered"
    built: dict[str, Any] = {"type": "", "config": ComponentConfig()}
    for engine_key in ("retry", "ordering"):
        if engine_key in entry and section == "destinations":
            built[engine_key] = entry[engine_key]
    if "establishment" in entry:
        built["establishment"] = entry["establishment"]
    type_name = entry.get("type")
    if "type" not in entry:
        doc.error(
            path, "missing-key", f"{label} {name!r} has no 'type' (known: {known_text})", key=True
        )
        return built
    if not isinstance(type_name, str):
        doc.error(
            (*path, "type"), "invalid-value", f"{label} type must be a string, got {type_name!r}"
        )
        return built
    ctype = registry.lookup(kind, type_name)
    if ctype is None:
        hint = did_you_mean(type_name, known)
        message = f"unknown {label} type {type_name!r}{hint} (known: {known_text})"
        doc.error((*path, "type"), "unknown-type", message)
        return built
    built["type"] = type_name
    rest = {k: v for k, v in entry.items() if k not in _ENTRY_KEYS[section]}
    try:
        built["config"] = ctype.config_model.model_validate(rest)
    except ValidationError as exc:
        extra = _ENTRY_KEYS[section]
        report_errors(doc, exc.errors(), root=ctype.config_model, prefix=path, extra_keys=extra)
    return built


def report_errors(
    doc: Document,
    errors: Sequence[ErrorDetails],
    *,
    root: type[BaseModel],
    prefix: DataPath,
    extra_keys: Sequence[str] = (),
) -> None:
    """Turn pydantic errors (locations relative to ``prefix``) into diagnostics.

    ``root`` is the model that produced them, used to suggest known keys; ``extra_keys``
    are keys the loader accepts beside the model's (``type``, ``retry``).
    """
    locations = [tuple(e["loc"]) for e in errors]
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "too_short" and any(o[: len(loc)] == loc != o for o in locations):
            continue  # a list emptied by its own bad items: the items' errors say it all
        path, on_key = _data_path(doc.data, (*prefix, *loc))
        if any(path[: i + 1] in doc.tainted for i in range(len(path))):
            continue  # a failed ${VAR} already explains this value
        kind = err["type"]
        where = _dotted(path)
        if kind == "extra_forbidden":
            key = str(loc[-1])
            parent = _dotted(path[:-1]) or "the top level"
            known = [*_known_keys(root, loc[:-1]), *(extra_keys if len(loc) == 1 else ())]
            message = f"unknown key {key!r} in {parent}{did_you_mean(key, known)}"
            doc.error(path, "unknown-key", message, key=True)
        elif kind == "missing":
            message = f"missing required key {str(loc[-1])!r}"
            doc.error(path, "missing-key", f"{where}: {message}" if where else message, key=True)
        else:
            message = _message(err)
            written = doc.scalar_text.get(path)
            if isinstance(err["input"], bool) and written is not None and kind != "bool_type":
                message = (
                    f"YAML reads {written} as a boolean ({str(err['input']).lower()}):"
                    f' write it in quotes, "{written}" ({message})'
                )
            doc.error(
                path, "invalid-value", f"{where}: {message}" if where else message, key=on_key
            )


def _message(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping, got {_describe(err['input'])}"
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, got {_describe(err['input'])}"
    if kind == "value_error" and "error" in err.get("ctx", {}):
        return str(err["ctx"]["error"])
    if kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") in _NAME_PATTERNS:
        value = str(err["input"])
        fixed = re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")
        hint = f" (write {fixed!r})" if fixed else ""
        return (
            f"{value!r} is not a valid name: names are lower-case letters and digits,"
            f" words joined by single underscores{hint}"
        )
    return err["msg"]


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return f"{type(value).__name__} {value!r}"


def _data_path(data: Any, loc: Sequence[Any]) -> tuple[DataPath, bool]:
    """Follow ``loc`` through the actual data, skipping parts that name no data (union
    member tags, missing keys). The flag is True when the error is about a mapping key."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if part == "[key]":
            return tuple(path), True
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
    return tuple(path), False


def _dotted(path: DataPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _known_keys(root: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """Keys accepted by the model found at ``loc`` under ``root`` (best effort)."""
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {f.alias or n: f for n, f in tp.model_fields.items()}
            if part not in fields:
                return []
            tp = fields[part].annotation
        elif typing.get_origin(tp) in (dict, Mapping):
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) in (list, tuple, Sequence):
            tp = typing.get_args(tp)[0]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _textify_conditions(data: Any, doc: Document) -> Any:
    """Copy of ``data`` where ``when`` values YAML read as numbers or booleans are put
    back to their source text: ``version: 2.5`` means the string ``"2.5"``."""
    if not isinstance(data, dict) or not isinstance(data.get("routes"), list):
        return dict(data) if isinstance(data, dict) else data
    routes: list[Any] = []
    for i, route in enumerate(data["routes"]):
        when = route.get("when") if isinstance(route, dict) else None
        if isinstance(when, dict):
            base: DataPath = ("routes", i, "when")
            fixed = {
                k: _text(doc, (*base, k), v) for k, v in when.items() if k in When.model_fields
            }
            route = {**route, "when": {**when, **fixed}}
        routes.append(route)
    return {**data, "routes": routes}


def _text(doc: Document, path: DataPath, value: Any) -> Any:
    if isinstance(value, list):
        return [doc.scalar_text.get((*path, j), item) for j, item in enumerate(value)]
    return doc.scalar_text.get(path, value)


def _check_retry_overrides(doc: Document, config: Config) -> None:
    for name, spec in config.destinations.items():
        if spec.retry is not None:
            policy = config.retry_for(name)
            if policy.max_backoff < policy.initial_backoff:
                doc.error(
                    ("destinations", name, "retry"),
                    "invalid-value",
                    f"destinations.{name}.retry: max_backoff ({policy.max_backoff:g}s) is shorter"
                    f" than initial_backoff ({policy.initial_backoff:g}s)",
                )


__all__ = ["build_config", "report_errors"]
