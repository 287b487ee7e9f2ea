"""JSON Schema of ``routes.yaml``, built from the models and the registered types.

Channel and destination entries are flat in the file, so the schema describes each
registered type as its config model plus a ``type`` constant (and, for destinations, the
``retry`` override), and the entries as ``oneOf`` those variants. The output is
deterministic (types sorted by name, keys sorted) so CI can diff the committed file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, create_model

from engine import registry
from engine.config.console import Finess
from engine.config.models import Config, Name, Ordering, RetryOverride

SCHEMA_FILE = "routes.schema.json"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _AnyEntry(BaseModel):
    """An entry of a type that is not registered in this build."""

    model_config = ConfigDict(extra="allow")

    type: str


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _variants(kind: registry.Kind) -> list[type[BaseModel]]:
    """One model per registered type: its config model plus ``type`` (and ``retry``)."""
    suffix = "Channel" if kind == "source" else "Destination"
    variants: list[type[BaseModel]] = []
    for ctype in registry.types_of(kind):
        fields: dict[str, Any] = {
            "type": (Literal[ctype.name], Field(description=f"`{ctype.name}`")),
            "establishment": (
                Finess | None,
                Field(None, description="FINESS of its establishment (console tenancy)."),
            ),
        }
        if kind == "destination":
            fields["retry"] = (
                RetryOverride | None,
                Field(None, description="Changes to the top-level retry policy."),
            )
            fields["ordering"] = (
                Ordering | None,
                Field(None, description="Deliver in order per key (patient, visit...)."),
            )
        variant = create_model(
            f"{_camel(ctype.name)}{suffix}",
            __base__=ctype.config_model,
            __doc__=ctype.summary or f"The `{ctype.name}` {kind} type.",
            __module__=__name__,
            **fields,
        )
        variants.append(variant)
    return variants


def _entry_type(variants: list[type[BaseModel]]) -> Any:
    if not variants:
        return _AnyEntry
    if len(variants) == 1:
        return variants[0]
    union = variants[0]
    for variant in variants[1:]:
        union = cast(Any, union) | variant
    return cast(Any, Annotated)[union, Field(discriminator="type")]


def routes_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``routes.yaml`` for the registered types."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in Config.model_fields.items()
    }
    for section, kind in (("channels", "source"), ("destinations", "destination")):
        info = Config.model_fields[section]
        entry = _entry_type(_variants(cast(registry.Kind, kind)))
        fields[section] = (cast(Any, dict)[Name, entry], info)
    model = create_model(
        "RoutesFile",
        __config__=ConfigDict(extra="forbid", title="Passerelle routes.yaml"),
        __doc__="Channels, destinations and routes of a Passerelle engine.",
        __module__=__name__,
        **fields,
    )
    schema: dict[str, Any] = model.model_json_schema(by_alias=True)
    for section in ("channels", "destinations"):
        _uniform_entries(schema["properties"][section])
    schema["$schema"] = _DIALECT
    return schema


def _uniform_entries(section: dict[str, Any]) -> None:
    """Entries are always ``oneOf`` the variants (even with one type), and names that do
    not match the name pattern are refused."""
    for pattern, values in section.get("patternProperties", {}).items():
        if "$ref" in values:
            section["patternProperties"][pattern] = {"oneOf": [values]}
    section["additionalProperties"] = False


def dumps_schema(schema: dict[str, Any]) -> str:
    """Canonical text of a schema: sorted keys, indent 2, trailing newline."""
    return json.dumps(schema, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_schemas(directory: str | Path) -> list[Path]:
    """Write ``routes.schema.json`` into ``directory`` (created if needed).

    Returns:
        The files written.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    target = out / SCHEMA_FILE
    target.write_text(dumps_schema(routes_json_schema()), encoding="utf-8")
    return [target]


__all__ = ["SCHEMA_FILE", "dumps_schema", "routes_json_schema", "write_schemas"]
