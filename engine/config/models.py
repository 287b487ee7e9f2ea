"""The pydantic models of ``routes.yaml``: they are both the validator and the schema.

Every model forbids unknown keys and is frozen. Channel and destination entries are
flat in the file (``type`` beside the type's own keys); the loader validates the type's
keys with the registered config model and stores the result in :class:`ChannelSpec` /
:class:`DestinationSpec` ``.config`` (see :mod:`engine.config.validate`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializeAsAny,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from engine.components import ComponentConfig
from engine.config.diagnostics import Diagnostic
from engine.config.types import Duration
from engine.queue.ordering import check_key

#: Channel, destination and route names.
NAME_PATTERN: Final = r"^[a-z0-9]+(_[a-z0-9]+)*$"
#: The reserved route that receives the messages no other route matched.
UNMATCHED: Final = "_unmatched"
DEFAULT_HOME: Final = Path("./var")

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
ROUTE_NAME_PATTERN: Final = r"^(_unmatched|[a-z0-9]+(_[a-z0-9]+)*)$"
RouteName = Annotated[str, StringConstraints(pattern=ROUTE_NAME_PATTERN)]
NameList = Annotated[tuple[Name, ...], Field(min_length=1)]

#: ``when`` keys read from ``Envelope.metadata``: when key -> metadata key (MSH facts
#: ``hl7.*``; PAM-FR facts set at intake, see docs/pam-fr.md).
WHEN_METADATA: Final[Mapping[str, str]] = MappingProxyType(
    {
        **{
            key: f"hl7.{key}"
            for key in (
                "message_type",
                "trigger_event",
                "message_structure",
                "sending_application",
                "sending_facility",
                "receiving_application",
                "receiving_facility",
                "processing_id",
                "version",
            )
        },
        "pam_event": "pam.event",
        "movement_action": "pam.movement_action",
        "original_event": "pam.original_event",
        "historic": "pam.historic",
        "ins_change": "pam.ins_change",
        "merge": "pam.merge",
        "identity_status": "identity.status",
        "ins_kind": "ins.kind",
        "ins_test": "ins.test",
        "ins_qualified": "ins.qualified",
        "dmp_status": "dmp.status",
        "dmp_opposition": "dmp.opposition",
        "dmp_consultation": "dmp.consultation",
    }
)
#: ``when`` keys read from the envelope itself: when key -> ``Envelope`` attribute.
WHEN_ENVELOPE: Final[Mapping[str, str]] = MappingProxyType(
    {"content_type": "content_type", "channel": "channel"}
)
#: Every ``when`` key -> the key a router compares: a metadata key (``hl7.``, ``pam.``,
#: ``ins.``, ``identity.``, ``dmp.``) or, for ``content_type`` and ``channel``, the
#: ``Envelope`` attribute name.
WHEN_FIELDS: Final[Mapping[str, str]] = MappingProxyType({**WHEN_METADATA, **WHEN_ENVELOPE})


def _as_tuple(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


_VALUES_SCHEMA = {
    "anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}, "minItems": 1},
    ]
}
#: A condition value: one string, or a non-empty list of strings (any of them matches).
Values = Annotated[
    tuple[str, ...],
    BeforeValidator(_as_tuple),
    Field(min_length=1),
    WithJsonSchema(_VALUES_SCHEMA),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _cond(source: str, *examples: Any) -> Any:
    shown = list(examples) or ["ADT", ["A01", "A04"]]
    return Field(None, description=f"Matches {source}.", examples=shown)


class When(_Model):
    """Conditions of a route: every key given must match (AND); a list matches any value."""

    message_type: Values | None = _cond("MSH-9.1, the message code (ADT, ORU, MDM...)")
    trigger_event: Values | None = _cond("MSH-9.2, the trigger event (A01, R01...)")
    message_structure: Values | None = _cond("MSH-9.3, the message structure (ADT_A01)")
    sending_application: Values | None = _cond("MSH-3.1, the sending application")
    sending_facility: Values | None = _cond("MSH-4.1, the sending facility")
    receiving_application: Values | None = _cond("MSH-5.1, the receiving application")
    receiving_facility: Values | None = _cond("MSH-6.1, the receiving facility")
    processing_id: Values | None = _cond("MSH-11.1, the processing id (P, T, D)")
    version: Values | None = _cond("MSH-12.1, the HL7 version (2.5, 2.5.1)")
    content_type: Values | None = _cond("the media type given by the channel")
    channel: Values | None = _cond("the name of the channel that received the message")
    pam_event: Values | None = _cond("the PAM-FR event (pam.event; set for PAM-FR ADT)", "A01")
    movement_action: Values | None = _cond(
        "ZBE-4, the movement action (INSERT, UPDATE, CANCEL)", "CANCEL", ["INSERT", "UPDATE"]
    )
    original_event: Values | None = _cond("ZBE-6, the event an UPDATE or CANCEL acts on", "A01")
    historic: Values | None = _cond('ZBE-5 = Y, a historic movement ("true"/"false")', "true")
    ins_change: Values | None = _cond("what an A47 does to the INS (none, change, removal)", "none")
    merge: Values | None = _cond('an A40 merge ("true"/"false")', "true")
    identity_status: Values | None = _cond("PID-32, the identity status (VALI, PROV...)", "VALI")
    ins_kind: Values | None = _cond("the kind of INS in PID-3 (nir, nia, none)", "nir")
    ins_test: Values | None = _cond('a test or demo INS OID ("true"/"false")', "false")
    ins_qualified: Values | None = _cond(
        'an INS with a valid key and PID-32 VALI ("true"/"false")', "true"
    )
    dmp_status: Values | None = _cond("ZFA-1, the DMP status (ACTIF, FERME, INEXISTANT)", "ACTIF")
    dmp_opposition: Values | None = _cond('ZFA-9 = IO, feeding opposed ("true"/"false")', "true")
    dmp_consultation: Values | None = _cond("ZFA-11, DMP consultation consent (IC, INC, NA)", "IC")

    def conditions(self) -> dict[str, tuple[str, ...]]:
        """The keys that were given, each with its accepted values, in WHEN_FIELDS order."""
        found = ((key, getattr(self, key)) for key in WHEN_FIELDS)
        return {key: value for key, value in found if value is not None}


class Route(_Model):
    """One routing rule; routes are tried in order and the first match wins.

    ``from`` and ``continue`` are Python keywords (and ``validate`` a pydantic method): the
    attributes are ``from_``, ``continue_`` and ``validate_``, and only the file spelling is
    accepted as input.
    """

    name: RouteName = Field(description="Unique route name; `_unmatched` is reserved.")
    from_: NameList | None = Field(
        None, alias="from", description="Channels this route reads; omitted means every one."
    )
    when: When | None = Field(None, description="Conditions; omitted means every message.")
    to: tuple[Name, ...] | None = Field(
        None, description="Destinations that receive a copy; required unless `drop` is true."
    )
    drop: bool = Field(False, description="End the message as `filtered` here; forbids `to`.")
    continue_: bool = Field(
        False, alias="continue", description="Keep trying the following routes after a match."
    )
    map: Name | None = Field(
        None,
        description=(
            "Mapping applied to the message for this route's destinations (a map from "
            "mappings/); omitted (and no `transform`) means the raw message is delivered "
            "unchanged."
        ),
        examples=["pam_fr_adt_to_fr_core"],
    )
    transform: Name | None = Field(
        None,
        description=(
            "Built-in Python transform applied to the message for this route's destinations "
            "(`dmp_from_hl7`, `dmp_from_cda`; see docs/configuration.md); excludes `map`."
        ),
        examples=["dmp_from_hl7", "dmp_from_cda"],
    )
    validate_: bool = Field(
        True,
        alias="validate",
        description=(
            "Check the map's output with the FHIR R4B models before delivery; an invalid "
            "output is dead-lettered. Ignored without `map`."
        ),
    )

    @property
    def is_unmatched(self) -> bool:
        """True for the reserved ``_unmatched`` route."""
        return self.name == UNMATCHED

    @property
    def is_catch_all(self) -> bool:
        """True when the route matches every message (no ``from``, no condition)."""
        has_conditions = self.when is not None and bool(self.when.conditions())
        return not self.is_unmatched and self.from_ is None and not has_conditions


def _backoff(default: str, text: str) -> Any:
    return Field(default, validate_default=True, description=text, examples=[default])


class RetryPolicy(_Model):
    """How failed deliveries are retried before the dead letter."""

    max_attempts: int = Field(10, ge=1, description="Attempts in all, the first one included.")
    initial_backoff: Duration = _backoff("1s", "Wait before the second attempt.")
    max_backoff: Duration = _backoff("5m", "Longest wait between two attempts.")

    @model_validator(mode="after")
    def _bounds(self) -> RetryPolicy:
        if self.max_backoff < self.initial_backoff:
            raise ValueError("max_backoff must not be shorter than initial_backoff")
        return self


class RetryOverride(_Model):
    """Per-destination changes to the top-level retry policy; absent keys are inherited."""

    max_attempts: int | None = Field(None, ge=1, description="See `retry.max_attempts`.")
    initial_backoff: Duration | None = Field(None, description="See `retry.initial_backoff`.")
    max_backoff: Duration | None = Field(None, description="See `retry.max_backoff`.")


class EngineSettings(_Model):
    """Process-wide settings."""

    home: Path = Field(
        DEFAULT_HOME,
        description="Base directory for the store and default outputs.",
        examples=["${PASSERELLE_HOME:-./var}"],
    )
    workers: int = Field(4, ge=1, description="Concurrent worker tasks.")
    shutdown_grace: Duration = _backoff("10s", "Time given to in-flight work at shutdown.")
    poll_interval: Duration = _backoff(
        "1s",
        "How often the engine looks in the store for work it was not told about: replays "
        "and releases requested with the CLI, retries whose time has come.",
    )
    mappings: Path = Field(
        Path("mappings"),
        description=(
            "Directory of the maps routes name with `map:` (`<name>.yaml`) and of their code "
            "tables (`tables/`)."
        ),
        examples=["mappings", "/etc/passerelle/mappings"],
    )


class StoreSettings(_Model):
    """The durable message store."""

    backend: Literal["sqlite"] = Field("sqlite", description="Store implementation.")
    path: Path | None = Field(
        None, description="SQLite database file; defaults to `<engine.home>/store.db`."
    )


class ChannelSpec(_Model):
    """A configured channel: its registered type and the validated type-specific config."""

    type: str
    config: SerializeAsAny[ComponentConfig]


class Ordering(_Model):
    """Deliver the messages that share a key one at a time, in the order received."""

    key: str = Field(
        description=(
            "`patient` (PID-3: the IPP, i.e. the repetition typed PI, with its assigning "
            "authority) or an HL7v2 path such as `PV1-19.1` (per visit). Messages without a "
            "key are not ordered."
        ),
        examples=["patient", "PV1-19.1"],
    )
    on_dead: Literal["block", "continue"] = Field(
        "block",
        description=(
            "`block`: a dead letter holds its key until it is replayed or released "
            "(`passerelle replay` / `passerelle release`); `continue`: later messages go on."
        ),
        examples=["block"],
    )

    @field_validator("key")
    @classmethod
    def _known_key(cls, value: str) -> str:
        return check_key(value)


class DestinationSpec(_Model):
    """A configured destination; ``retry`` is the override as written, or None;
    ``ordering`` makes it deliver in order per key (see docs/fhir.md)."""

    type: str
    config: SerializeAsAny[ComponentConfig]
    retry: RetryOverride | None = None
    ordering: Ordering | None = None


_SECTIONS = ("engine", "store", "retry", "channels", "destinations", "routes")


class Config(_Model):
    """The whole of ``routes.yaml``. Build it with :func:`engine.config.load_config`."""

    version: Literal[1] = Field(description="Format version; must be 1.")
    engine: EngineSettings = Field(default_factory=EngineSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    retry: RetryPolicy = Field(
        default_factory=RetryPolicy, description="Default retry policy of every destination."
    )
    channels: dict[Name, ChannelSpec] = Field(
        default_factory=dict, description="Inbound channels by name."
    )
    destinations: dict[Name, DestinationSpec] = Field(
        default_factory=dict, description="Outbound destinations by name."
    )
    routes: tuple[Route, ...] = Field((), description="Routing rules, tried in order.")

    _warnings: tuple[Diagnostic, ...] = PrivateAttr(default=())

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        """Empty sections count as absent; the SQLite path defaults to ``<home>/store.db``."""
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if not (k in _SECTIONS and v is None)}
        engine = data.get("engine", {})
        home = engine.get("home", DEFAULT_HOME) if isinstance(engine, dict) else DEFAULT_HOME
        store = data.get("store", {})
        if (
            isinstance(store, dict)
            and store.get("path") is None
            and store.get("backend", "sqlite") == "sqlite"
            and isinstance(home, str | Path)
        ):
            data["store"] = {**store, "path": str(Path(home) / "store.db")}
        return data

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """Non-fatal diagnostics found while loading (unused destinations, ...)."""
        return self._warnings

    def retry_for(self, destination: str) -> RetryPolicy:
        """The effective retry policy of a destination: the top-level policy with the
        destination's override applied. Raises KeyError for an unknown destination."""
        override = self.destinations[destination].retry
        if override is None:
            return self.retry
        changes = {
            name: value
            for name in RetryOverride.model_fields
            if (value := getattr(override, name)) is not None
        }
        return self.retry.model_copy(update=changes)


#: The file-level model, under the name the format's documentation uses.
RoutesFile = Config

__all__ = [
    "NAME_PATTERN",
    "ROUTE_NAME_PATTERN",
    "UNMATCHED",
    "WHEN_ENVELOPE",
    "WHEN_FIELDS",
    "WHEN_METADATA",
    "ChannelSpec",
    "Config",
    "DestinationSpec",
    "EngineSettings",
    "Name",
    "Ordering",
    "RetryOverride",
    "RetryPolicy",
    "Route",
    "RoutesFile",
    "StoreSettings",
    "Values",
    "When",
]
