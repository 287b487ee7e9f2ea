"""Loading and validating routes.yaml: YAML with marks, ${VAR} references, diagnostics.

Typical use::

    from engine.config import load_config, render
    from engine.errors import ConfigError

    try:
        config = load_config("routes.yaml")
    except ConfigError as exc:
        print(render(exc.diagnostics))
"""

from __future__ import annotations

from engine.config.diagnostics import Diagnostic, did_you_mean, render, suggest, summary
from engine.config.loader import check_file, check_text, load_config, load_config_text
from engine.config.models import (
    NAME_PATTERN,
    UNMATCHED,
    WHEN_ENVELOPE,
    WHEN_FIELDS,
    WHEN_METADATA,
    ChannelSpec,
    Config,
    DestinationSpec,
    EngineSettings,
    RetryOverride,
    RetryPolicy,
    Route,
    RoutesFile,
    StoreSettings,
    When,
)
from engine.config.schema import routes_json_schema, write_schemas

__all__ = [
    "NAME_PATTERN",
    "UNMATCHED",
    "WHEN_ENVELOPE",
    "WHEN_FIELDS",
    "WHEN_METADATA",
    "ChannelSpec",
    "Config",
    "DestinationSpec",
    "Diagnostic",
    "EngineSettings",
    "RetryOverride",
    "RetryPolicy",
    "Route",
    "RoutesFile",
    "StoreSettings",
    "When",
    "check_file",
    "check_text",
    "did_you_mean",
    "load_config",
    "load_config_text",
    "render",
    "routes_json_schema",
    "suggest",
    "summary",
    "write_schemas",
]
