"""The JSON Schema of routes.yaml: deterministic, valid JSON, one variant per type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine import registry
from engine.config import WHEN_FIELDS, routes_json_schema, write_schemas
from engine.config.schema import SCHEMA_FILE, dumps_schema


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def _entry_variants(schema: dict[str, Any], section: str) -> dict[str, dict[str, Any]]:
    (values,) = schema["properties"][section]["patternProperties"].values()
    names = [ref.rsplit("/", 1)[1] for ref in _refs(values["oneOf"])]
    defs = schema["$defs"]
    return {defs[n]["properties"]["type"]["const"]: defs[n] for n in names}


def test_schema_is_deterministic(tmp_path: Path) -> None:
    first = dumps_schema(routes_json_schema())
    assert dumps_schema(routes_json_schema()) == first
    (written,) = write_schemas(tmp_path / "schemas")
    assert written.name == SCHEMA_FILE
    assert written.read_text(encoding="utf-8") == first
    write_schemas(tmp_path / "schemas")
    assert written.read_text(encoding="utf-8") == first
    assert (
        first.endswith("}\n")
        and first
        == json.dumps(json.loads(first), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    )


def test_schema_is_valid_json_with_resolvable_refs() -> None:
    schema = json.loads(dumps_schema(routes_json_schema()))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["version"]
    assert schema["additionalProperties"] is False
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/")
        assert ref.removeprefix("#/$defs/") in schema["$defs"]


def test_every_registered_type_is_a_variant() -> None:
    schema = routes_json_schema()
    channels = _entry_variants(schema, "channels")
    destinations = _entry_variants(schema, "destinations")
    assert sorted(channels) == [t.name for t in registry.types_of("source")]
    assert sorted(destinations) == [t.name for t in registry.types_of("destination")]
    src = channels["test_src"]
    assert src["required"] == ["listen", "type"]
    assert src["additionalProperties"] is False
    assert "retry" not in src["properties"]
    assert "retry" in destinations["test_dest"]["properties"]
    assert schema["properties"]["channels"]["additionalProperties"] is False


def test_route_and_when_use_the_file_spelling() -> None:
    defs = routes_json_schema()["$defs"]
    assert {
        "name",
        "from",
        "when",
        "to",
        "drop",
        "continue",
        "map",
        "transform",
        "validate",
    } == set(defs["Route"]["properties"])
    assert "mappings" in defs["EngineSettings"]["properties"]
    assert set(defs["When"]["properties"]) == set(WHEN_FIELDS)
    assert defs["RetryPolicy"]["properties"]["max_backoff"]["default"] == "5m"


def test_pam_fr_when_keys_and_channel_settings_are_documented() -> None:
    defs = routes_json_schema()["$defs"]
    when = defs["When"]["properties"]
    for key in ("pam_event", "movement_action", "identity_status", "ins_qualified", "ins_kind"):
        assert when[key]["description"].startswith("Matches ") and when[key]["examples"]
    assert when["dmp_opposition"]["examples"] == ["true"] and "dmp_status" in when
    hl7 = defs["Hl7IntakeConfig"]
    assert hl7["additionalProperties"] is False
    assert {k: v["enum"] for k, v in hl7["properties"].items() if "enum" in v} == {
        "profile": ["pam_fr", "none"],
        "validation": ["off", "warn", "strict"],
        "unknown_events": ["accept", "refuse"],
        "dmp_gating": ["off", "refuse"],
        "on_decode_error": ["reject", "replace", "fallback"],
    }
