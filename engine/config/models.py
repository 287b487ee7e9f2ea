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
    SecretStr,
    SerializeAsAny,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from engine.components import ComponentConfig
from engine.config.alerting import AlertSettings
from engine.config.console import ConsoleSettings, Finess
from engine.config.diagnostics import Diagnostic
from engine.config.types import ByteSize, Duration
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


class CircuitSettings(_Model):
    """The circuit breaker of a destination (see docs/configuration.md, `retry.circuit`)."""

    enabled: bool = Field(True, description="Pause a failing destination instead of retrying.")
    failures: int = Field(
        5, ge=1, description="Consecutive transient failures that open the circuit."
    )
    probe_interval: Duration = _backoff("30s", "Wait before the first probe of an open circuit.")
    max_probe_interval: Duration = _backoff(
        "5m", "Longest wait between probes (each failed probe doubles the wait)."
    )

    @model_validator(mode="after")
    def _bounds(self) -> CircuitSettings:
        if self.max_probe_interval < self.probe_interval:
            raise ValueError("max_probe_interval must not be shorter than probe_interval")
        return self


class RetryPolicy(_Model):
    """How failed deliveries are retried before the dead letter."""

    max_attempts: int | None = Field(
        None,
        ge=1,
        description=(
            "Attempts in all, the first one included; omitted: no bound on the count "
            "(`max_age` bounds the retries)."
        ),
    )
    max_age: Duration | None = Field(
        "24h",
        validate_default=True,
        description=(
            "Give up once a delivery has been failing this long (since it was created or "
            "replayed); null: no bound on age (then `max_attempts` is required)."
        ),
        examples=["24h"],
    )
    initial_backoff: Duration = _backoff("1s", "Wait before the second attempt.")
    max_backoff: Duration = _backoff("5m", "Longest wait between two attempts.")
    circuit: CircuitSettings = Field(
        default_factory=CircuitSettings,
        description="Pause the destination after consecutive failures; probe; resume.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> RetryPolicy:
        if self.max_backoff < self.initial_backoff:
            raise ValueError("max_backoff must not be shorter than initial_backoff")
        if self.max_attempts is None and self.max_age is None:
            raise ValueError("give max_attempts or max_age (or both): retries must end")
        return self


class RetryOverride(_Model):
    """Per-destination changes to the top-level retry policy; absent keys are inherited."""

    max_attempts: int | None = Field(None, ge=1, description="See `retry.max_attempts`.")
    max_age: Duration | None = Field(None, description="See `retry.max_age`.")
    initial_backoff: Duration | None = Field(None, description="See `retry.initial_backoff`.")
    max_backoff: Duration | None = Field(None, description="See `retry.max_backoff`.")
    circuit: CircuitSettings | None = Field(
        None, description="See `retry.circuit` (replaces it as a whole)."
    )


class EngineSettings(_Model):
    """Process-wide settings."""

    home: Path = Field(
        DEFAULT_HOME,
        description="Base directory for the store and default outputs.",
        examples=["${PASSERELLE_HOME:-./var}"],
    )
    node: str | None = Field(
        None,
        description=(
            "This engine's node name, unique among the engines sharing a PostgreSQL store "
            "(a second engine with the same name is refused); defaults to the host name. "
            "Its processes hold their claims in the store as `<node>:<pid>`."
        ),
        examples=["node-a"],
    )
    workers: int = Field(4, ge=1, description="Concurrent worker tasks.")
    shutdown_grace: Duration = _backoff("10s", "Time given to in-flight work at shutdown.")
    poll_interval: Duration = _backoff(
        "1s",
        "How often the engine looks in the store for work it was not told about: replays "
        "and releases requested with the CLI, retries whose time has come.",
    )
    worker_processes: int = Field(
        0,
        ge=0,
        description=(
            "Worker processes started next to intake to run routing and deliveries (each "
            "with `workers` concurrent tasks); 0 runs everything in the engine's process. "
            "`passerelle run --workers N` overrides it."
        ),
        examples=[0, 2],
    )
    lease: Duration = _backoff(
        "60s",
        "How long a claim on a message or delivery lasts without being finished: when a "
        "process dies, another takes its claimed work over after this time.",
    )
    alert_command: tuple[str, ...] | None = Field(
        None,
        min_length=1,
        description=(
            "Command run on each alert (store full, destination paused, and their end): "
            "the event name is added as its last argument and the details (no patient "
            "data) come as JSON on its standard input. See docs/operations.md."
        ),
        examples=[["/usr/local/bin/notify-ops"]],
    )
    mappings: Path = Field(
        Path("mappings"),
        description=(
            "Directory of the maps routes name with `map:` (`<name>.yaml`) and of their code "
            "tables (`tables/`)."
        ),
        examples=["mappings", "/etc/passerelle/mappings"],
    )


class StorePool(_Model):
    """Connections a PostgreSQL store keeps open (per engine process)."""

    min_size: int = Field(2, ge=1, description="Connections opened at start.")
    max_size: int = Field(10, ge=1, description="Most connections open at once.")
    timeout: Duration = _backoff("30s", "Longest wait for a free connection.")


class StoreEncryption(_Model):
    """Payloads encrypted at rest (AES-256-GCM); give the keyring as a file or a value
    (from the environment). The first key encrypts, every key decrypts. See docs/store.md."""

    keyring_file: Path | None = Field(
        None,
        description="File of keys, one `<id> <base64>` per line, first one current "
        "(`passerelle keys new` writes it).",
        examples=["/etc/passerelle/store.keys"],
    )
    keyring: str | None = Field(
        None,
        description="The keys themselves, `<id>:<base64>` separated by commas: only as a "
        "`${VAR}` reference, never written in the file.",
        examples=["${PASSERELLE_STORE_KEYS}"],
    )

    @model_validator(mode="after")
    def _one_source(self) -> StoreEncryption:
        if (self.keyring_file is None) == (self.keyring is None):
            raise ValueError("give 'keyring_file' or 'keyring' (one of them)")
        return self


class SentPayloadBudget(_Model):
    """How much of what attempts sent is kept: the oldest payloads go first once either
    limit is reached (``null`` turns a limit off)."""

    max_age: Duration | None = Field(
        default_factory=lambda: 30 * 86400.0,
        description="Oldest sent payload kept.",
        examples=["30d"],
    )
    max_bytes: ByteSize | None = Field(
        default_factory=lambda: 2 * 1000**3,
        description="Most bytes of sent payloads kept.",
        examples=["2GB"],
    )


class StoreRetention(_Model):
    """How long payloads (raw messages, what attempts sent and received) are kept; ids,
    states, history and metadata stay. Undelivered messages are never purged."""

    payloads: Duration | None = Field(
        None, description="Default for every channel (absent: kept forever).", examples=["90d"]
    )
    channels: dict[str, Duration] = Field(
        default_factory=dict,
        description="Per channel, replacing the default.",
        examples=[{"mllp_in": "30d"}],
    )
    every: Duration = _backoff("1h", "How often the purge runs.")
    sent_payloads: SentPayloadBudget = Field(
        default_factory=SentPayloadBudget,
        description="Budget of what attempts sent and received (mapped Bundles, XDS metadata, "
        "responses); the attempts themselves stay.",
    )


class StorePatientIndex(_Model):
    """The index that finds a patient's messages by IPP, NDA or INS without storing them:
    keyed digests (HMAC-SHA256) made with a secret. See docs/store.md."""

    enabled: bool = Field(True, description="Index the patient identifiers of messages.")
    secret: SecretStr | None = Field(
        None,
        description="The key, as a `${VAR}` reference (never written in the file). Absent: "
        "read from `key_file`, created there by `passerelle run` when missing.",
        examples=["${PASSERELLE_PATIENT_INDEX_SECRET}"],
    )
    key_file: Path | None = Field(
        None,
        description="File holding the key (defaults to `<engine.home>/patient-index.key`); "
        "nodes sharing a PostgreSQL store must share the key.",
        examples=["/etc/passerelle/patient-index.key"],
    )


class StoreSettings(_Model):
    """The durable message store: SQLite (one node, the default) or PostgreSQL (one or
    several nodes sharing a database). See docs/store.md."""

    backend: Literal["sqlite", "postgres"] = Field("sqlite", description="Store implementation.")
    path: Path | None = Field(
        None, description="SQLite database file; defaults to `<engine.home>/store.db`."
    )
    dsn: str | None = Field(
        None,
        description="PostgreSQL connection string (`postgres` backend); keep the password out "
        "of the file with a `${VAR}` reference or a `~/.pgpass` file.",
        examples=["${PASSERELLE_PG_DSN}", "postgresql://passerelle@db.example:5432/passerelle"],
    )
    pool: StorePool = Field(default_factory=StorePool)
    encryption: StoreEncryption | None = Field(
        None, description="Encrypt payloads at rest (absent: stored in clear)."
    )
    retention: StoreRetention = Field(default_factory=StoreRetention)
    patient_index: StorePatientIndex = Field(default_factory=StorePatientIndex)

    @model_validator(mode="after")
    def _backend_settings(self) -> StoreSettings:
        if self.backend == "postgres" and not self.dsn:
            raise ValueError("the postgres backend needs 'dsn' (e.g. dsn: ${PASSERELLE_PG_DSN})")
        if self.backend == "sqlite" and self.dsn:
            raise ValueError("'dsn' is for the postgres backend; SQLite uses 'path'")
        return self


class QueueSettings(_Model):
    """Where tasks wait: ids only, the store stays the truth."""

    backend: Literal["memory", "dramatiq"] = Field(
        "memory",
        description=(
            "`memory`: in the engine's process (served to its worker processes). "
            "`dramatiq`: on Redis through dramatiq, shared by every node and worker process."
        ),
        examples=["memory", "dramatiq"],
    )
    redis_url: str | None = Field(
        None,
        description="Redis URL for `dramatiq` (required then).",
        examples=["redis://127.0.0.1:6379/0", "${REDIS_URL}"],
    )
    namespace: str = Field(
        "passerelle",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Key prefix on Redis (one per cluster sharing a Redis).",
        examples=["passerelle"],
    )
    requeue_after: Duration = _backoff(
        "30s",
        "`dramatiq`: the store poller enqueues again the runnable work older than this "
        "(work Redis lost, or that was never enqueued).",
    )

    @model_validator(mode="after")
    def _needs_url(self) -> QueueSettings:
        if self.backend == "dramatiq" and not self.redis_url:
            raise ValueError("queue backend 'dramatiq' needs a redis_url")
        return self


class ChannelSpec(_Model):
    """A configured channel: its registered type and the validated type-specific config."""

    type: str
    config: SerializeAsAny[ComponentConfig]
    establishment: Finess | None = None
    """FINESS of the establishment it serves: console users scoped to establishments see it
    only when it is one of theirs."""


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
    establishment: Finess | None = None


_SECTIONS = (
    "engine",
    "store",
    "queue",
    "retry",
    "channels",
    "destinations",
    "routes",
    "alerts",
    "console",
)


class Config(_Model):
    """The whole of ``routes.yaml``. Build it with :func:`engine.config.load_config`."""

    version: Literal[1] = Field(description="Format version; must be 1.")
    engine: EngineSettings = Field(default_factory=EngineSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings, description="docs/alerts.md")
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
    console: ConsoleSettings = Field(
        default_factory=ConsoleSettings, description="Operator console."
    )

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
    "CircuitSettings",
    "Config",
    "DestinationSpec",
    "EngineSettings",
    "Name",
    "Ordering",
    "QueueSettings",
    "RetryOverride",
    "RetryPolicy",
    "Route",
    "RoutesFile",
    "StoreSettings",
    "Values",
    "When",
]
