"""What the operator console asks of the store: overview figures, patient-key search,
accounts, API tokens, sessions, the append-only audit trail, operator controls and alert
state.

Every backend implements :class:`ConsoleStore` (:class:`engine.store.base.Store` inherits
it). The overview figures must not scan the message table: they come from counters kept
in the same transaction as the state change (triggers or writer-side upserts), so they
cost the same at 10⁶ messages as at 10³. Patient identifiers are never stored in clear:
the store only sees keyed digests (:mod:`engine.patient_index`).

Every method raises :class:`~engine.errors.StoreError` on backend failure and
:class:`~engine.errors.NotFound` where it says so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine.message import DeliveryState, MessageState


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    """One inbound channel as the store knows it (no patient data).

    Attributes:
        channel: its name.
        counts: number of messages per state (states without messages may be absent).
        last_received_at: when its newest message was received.
        oldest_waiting_at: receipt time of its oldest message still ``received`` or
            ``processing`` (None when none waits).
        last_error: the reason of its newest message in ``error`` or ``rejected``
            (our text: codes and ids, never content), with ``last_error_at``.
    """

    channel: str
    counts: Mapping[MessageState, int] = field(default_factory=dict)
    last_received_at: datetime | None = None
    oldest_waiting_at: datetime | None = None
    last_error: str = ""
    last_error_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DestinationSummary:
    """One destination: deliveries per state, backlog age and last failure.

    ``oldest_waiting_at`` is the creation time of its oldest ``pending`` or ``retrying``
    delivery; ``last_error`` the detail of its newest failed attempt (``retrying`` or
    ``dead``), with ``last_error_at``; ``last_sent_at`` its newest successful attempt.
    """

    destination: str
    counts: Mapping[DeliveryState, int] = field(default_factory=dict)
    oldest_waiting_at: datetime | None = None
    last_error: str = ""
    last_error_at: datetime | None = None
    last_sent_at: datetime | None = None

    @property
    def waiting(self) -> int:
        """Deliveries waiting to go (``pending`` + ``retrying``): the backlog."""
        return self.counts.get(DeliveryState.PENDING, 0) + self.counts.get(
            DeliveryState.RETRYING, 0
        )

    @property
    def failed_last(self) -> bool:
        """True when its newest failed attempt is newer than its newest success."""
        return self.last_error_at is not None and (
            self.last_sent_at is None or self.last_error_at > self.last_sent_at
        )


@dataclass(frozen=True, slots=True)
class ActivityBucket:
    """Counts in one time bucket, for sparklines.

    ``kind`` is ``channel`` (``ok`` = messages received, ``failed`` = rejected or in
    error) or ``destination`` (``ok`` = attempts sent, ``failed`` = attempts retrying or
    dead). ``start`` is the bucket's start (UTC, aligned on the bucket size).
    ``latency_sum`` (seconds) over the ``ok`` items: for a destination, from the message's
    receipt to the successful attempt; for a channel, from receipt to the end of routing
    (0 when not known). Mean latency = ``latency_sum / ok``.
    """

    kind: str
    name: str
    start: datetime
    ok: int = 0
    failed: int = 0
    latency_sum: float = 0.0


@dataclass(frozen=True, slots=True)
class Account:
    """A local or OpenID Connect console user.

    Attributes:
        name: login (unique).
        role: ``viewer``, ``operator`` or ``admin``.
        password_hash: argon2 hash (empty for OIDC-only accounts).
        establishments: FINESS numbers the user is limited to; empty = every one.
        disabled: cannot log in nor use its tokens.
        source: ``local`` or ``oidc``.
    """

    name: str
    role: str
    password_hash: str = ""
    establishments: tuple[str, ...] = ()
    disabled: bool = False
    source: str = "local"
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token for scripts. Only a digest of the secret is stored (``token_hash``,
    SHA-256 hex); the token acts as its account, with at most ``role``."""

    id: str
    account: str
    token_hash: str
    label: str
    role: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class Session:
    """A browser session; ``id_hash`` is the SHA-256 hex of the cookie value."""

    id_hash: str
    account: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    source: str = "local"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited act. Append-only: never updated nor deleted by the engine.

    Attributes:
        id: assigned by the store (0 before :meth:`ConsoleStore.append_audit`).
        at: when it happened (UTC).
        actor: ``<account>`` , ``token:<id>``, ``cli:<os user>`` or ``engine``.
        action: ``login``, ``logout``, ``payload.view``, ``replay``, ``release``,
            ``destination.pause``, ``channel.stop``, ``config.reload``, ``account.*`` …
        object: what it acted on (a message id, a destination name…; no patient data).
        outcome: ``ok``, ``denied`` or ``failed``.
        detail: short text without patient data.
        client: remote address or ``cli``.
    """

    at: datetime
    actor: str
    action: str
    object: str
    outcome: str
    detail: str = ""
    client: str = ""
    id: int = 0


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filter for :meth:`ConsoleStore.audit_entries`, newest first; ``before_id`` pages."""

    actor: str | None = None
    action: str | None = None
    object: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int | None = 100


@dataclass(frozen=True, slots=True)
class Control:
    """An operator's standing order: ``kind`` ``destination`` (``paused``: deliveries
    wait, spending no attempts) or ``channel`` (``paused``: the source is stopped)."""

    kind: str
    name: str
    paused: bool
    by: str
    at: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AlertState:
    """One alert rule's state for one subject, so a restart or another node neither
    re-sends nor forgets an alert. ``fingerprint`` is ``<rule>:<subject>``."""

    fingerprint: str
    firing: bool
    since: datetime | None
    notified_at: datetime | None
    resolved_at: datetime | None = None
    detail: str = ""


HEARTBEAT_EVERY = 5.0
"""Seconds between two heartbeats of an engine node (:class:`NodeStatus`)."""
NODE_DOWN_AFTER = timedelta(seconds=4 * HEARTBEAT_EVERY)
"""A node whose heartbeat is older than this (four periods) is down."""


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """An engine node's heartbeat: which of its channels run. Written by the engine every
    few seconds so a console in another process (``passerelle console``) and ``/readyz``
    know what is listening; a node whose heartbeat is older than a few periods is down.

    ``channels`` maps channel name to ``listening``, ``stopped`` (operator) or
    ``failed`` (the source could not start: address in use, bad certificate…).
    """

    node: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    channels: Mapping[str, str] = field(default_factory=dict)

    def alive(self, now: datetime) -> bool:
        """True while its heartbeat is at most :data:`NODE_DOWN_AFTER` old."""
        return now - self.heartbeat_at <= NODE_DOWN_AFTER


def channel_states_of(nodes: Sequence[NodeStatus], now: datetime) -> dict[str, str]:
    """Channel -> state across the live nodes: ``listening`` when it listens on any of
    them, else the state one of them reports. Dead nodes are ignored."""
    states: dict[str, str] = {}
    for node in nodes:
        if not node.alive(now):
            continue
        for name, state in node.channels.items():
            if states.get(name) != "listening":
                states[name] = state
    return states


class ConsoleStore(ABC):
    """The console's part of the store (see the module docstring).

    Every backend implements all of it (SQLite: :mod:`engine.store._sqlite_console_store`,
    PostgreSQL: :mod:`engine.store._pg_console`).
    """

    # --- overview ---------------------------------------------------------------------
    @abstractmethod
    async def channel_summaries(self) -> list[ChannelSummary]:
        """Every channel that has messages, by name; counter-backed (no table scan)."""

    @abstractmethod
    async def destination_summaries(self) -> list[DestinationSummary]:
        """Every destination that has deliveries, by name; counter-backed."""

    @abstractmethod
    async def activity(self, since: datetime, bucket_seconds: int) -> list[ActivityBucket]:
        """Per channel and destination, counts per bucket from ``since`` to now, oldest
        first; buckets without activity are absent. Bounded by the window (indexed on
        time), not by the size of the store."""

    @abstractmethod
    async def route_counts(self) -> dict[str, int]:
        """Deliveries per route name (for metrics)."""

    # --- patient index ----------------------------------------------------------------
    @abstractmethod
    async def add_patient_keys(self, message_id: str, keys: Sequence[bytes]) -> None:
        """Index a message under keyed digests of its patient identifiers (idempotent).
        :meth:`engine.store.base.Store.list_messages` finds them with
        ``MessageQuery.patient_key``."""

    # --- accounts, tokens, sessions ---------------------------------------------------
    @abstractmethod
    async def save_account(self, account: Account) -> None:
        """Create or replace an account (by name)."""

    @abstractmethod
    async def get_account(self, name: str) -> Account:
        """Raises NotFound."""

    @abstractmethod
    async def accounts(self) -> list[Account]:
        """Every account, by name."""

    @abstractmethod
    async def delete_account(self, name: str) -> None:
        """Remove an account, its tokens and its sessions. Raises NotFound."""

    @abstractmethod
    async def save_token(self, token: ApiToken) -> None:
        """Create or replace a token (by id)."""

    @abstractmethod
    async def token_by_hash(self, token_hash: str) -> ApiToken | None:
        """The token with this digest (revoked ones too), or None."""

    @abstractmethod
    async def tokens(self, account: str | None = None) -> list[ApiToken]:
        """Tokens of one account (or all), oldest first."""

    @abstractmethod
    async def save_session(self, session: Session) -> None:
        """Create or replace a session (by ``id_hash``)."""

    @abstractmethod
    async def get_session(self, id_hash: str) -> Session | None:
        """The session, or None when unknown or expired."""

    @abstractmethod
    async def delete_session(self, id_hash: str) -> None:
        """Remove a session (logout); unknown ids are ignored."""

    @abstractmethod
    async def purge_sessions(self, now: datetime) -> int:
        """Remove expired sessions; returns how many."""

    # --- audit ------------------------------------------------------------------------
    @abstractmethod
    async def append_audit(self, entry: AuditEntry) -> int:
        """Append an entry (durable on return) and return its id (increasing)."""

    @abstractmethod
    async def audit_entries(self, query: AuditQuery) -> list[AuditEntry]:
        """Entries matching the query, newest first."""

    # --- operator controls ------------------------------------------------------------
    @abstractmethod
    async def set_control(self, control: Control) -> None:
        """Record (replace) the standing order for (kind, name)."""

    @abstractmethod
    async def controls(self) -> list[Control]:
        """Every standing order, by kind then name."""

    # --- alerting ---------------------------------------------------------------------
    @abstractmethod
    async def save_alert_state(self, state: AlertState) -> None:
        """Record (replace) the state of one alert (by fingerprint)."""

    @abstractmethod
    async def alert_states(self) -> list[AlertState]:
        """Every recorded alert state, by fingerprint."""

    @abstractmethod
    async def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take or renew the named lease for ``owner`` (True), or False while another
        owner's lease is live: one alert evaluator among several nodes."""

    # --- engine nodes ---------------------------------------------------------------
    @abstractmethod
    async def save_node_status(self, status: NodeStatus) -> None:
        """Record (replace) a node's heartbeat."""

    @abstractmethod
    async def node_statuses(self) -> list[NodeStatus]:
        """Every node's last heartbeat, by node name."""

    # --- sent payload budget ----------------------------------------------------------
    @abstractmethod
    async def attempt_payload_usage(self) -> tuple[int, datetime | None]:
        """Bytes of attempt payloads kept and the time of the oldest one."""

    @abstractmethod
    async def purge_attempt_payloads(
        self, *, before: datetime | None, max_bytes: int | None, limit: int = 500
    ) -> int:
        """Remove attempt payloads (sent bodies and responses; the attempts stay) older
        than ``before`` and, oldest first, while the total exceeds ``max_bytes``.
        Returns how many attempts lost their payloads (at most ``limit``)."""
