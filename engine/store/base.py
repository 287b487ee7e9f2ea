"""The store interface every backend implements, and the records it returns.

The store is the source of truth: a message exists once :meth:`Store.accept` has returned,
and every state change is a recorded transition. Queues carry ids only and can be rebuilt
from :meth:`Store.unfinished` at any time. Every method raises :class:`~engine.errors.StoreError`
on backend failure and :class:`~engine.errors.NotFound` for an unknown id.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from engine.message import DeliveryState, Envelope, MessageState
from engine.store.console import ConsoleStore

DEFAULT_LEASE = 60.0
"""Seconds a claim (:meth:`Store.start_processing`, :meth:`Store.claim_delivery`) lasts
unless renewed: after that, another owner may take the work over."""

INTAKE_KEY = "intake.key"
"""Envelope metadata a source may set so it can find what it already committed after a
crash (:meth:`Store.intake_keys`, indexed per channel)."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    envelope: Envelope
    state: MessageState
    reason: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Transition:
    at: datetime
    from_state: MessageState | None
    to_state: MessageState
    reason: str


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One delivery: a message sent to one destination by one route.

    A delivery is identified by (message, route, destination): two routes sending one
    message to the same destination make two deliveries, each with its route's transform.
    """

    id: str
    message_id: str
    destination: str
    route: str
    state: DeliveryState
    attempts: int
    last_error: str
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    detail: str
    order_key: str | None = None
    """Digest of the ordering key when the destination delivers in order per key."""
    released: bool = False
    """A dead delivery that no longer holds its ordering key (later ones may go on)."""
    attempts_at_replay: int = 0
    """Attempts made before the last operator replay; the retry budget counts the rest."""
    seq: int = 0
    """Position of the delivery in its message's routing (route order of routes.yaml):
    within one message, ordered deliveries to one destination go in this order."""
    claim_owner: str | None = None
    """Who holds the delivery (``"<node>:<pid>"``) while ``claim_until`` is in the future."""
    claim_until: datetime | None = None

    @property
    def holds_key(self) -> bool:
        """True while later deliveries of the same (destination, key) must wait for it."""
        if self.order_key is None:
            return False
        return not self.state.finished or (self.state is DeliveryState.DEAD and not self.released)


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery_id: str
    number: int
    at: datetime
    outcome: DeliveryState
    detail: str


@dataclass(frozen=True, slots=True)
class AttemptPayload:
    """What one attempt sent and what the peer answered (either may be absent). Kept
    like the raw message (encrypted at rest when the store is), removed by retention."""

    delivery_id: str
    number: int
    sent: bytes | None
    response: bytes | None


@dataclass(frozen=True, slots=True)
class RoutingOutcome:
    """The router's verdict, recorded atomically with the deliveries it creates.

    Attributes:
        state: ``routed``, ``filtered`` or ``unmatched``.
        reason: why (route names, the filtering rule).
        deliveries: (destination, route) pairs in route order; one delivery each (the
            same destination may appear once per route). May be empty.
        order_keys: destination -> ordering key digest, for the destinations that
            deliver in order.
        metadata: facts learnt while processing (PAM-FR review, routing facts): merged
            into the message's stored metadata atomically with the outcome.
    """

    state: MessageState
    reason: str
    deliveries: Sequence[tuple[str, str]] = ()
    order_keys: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Unfinished:
    """Work to resume after a restart."""

    message_ids: list[str] = field(default_factory=list)
    deliveries: list[tuple[str, datetime | None]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Blocker:
    """Why an ordered delivery may not be attempted yet.

    Attributes:
        message_id: the earlier message it waits for.
        delivery_id: that message's delivery holding the key, or None when the earlier
            message is not routed yet.
        state: the holding delivery's state (``pending``, ``retrying``, ``dead``), or
            ``unrouted``.
    """

    message_id: str
    delivery_id: str | None
    state: str


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What :meth:`Store.request_replay` did with one message."""

    message_id: str
    replayed: bool
    note: str


@dataclass(frozen=True, slots=True)
class DestinationStatus:
    """The circuit breaker of one destination, as last recorded (see :mod:`engine.circuit`).

    Attributes:
        state: ``closed`` (deliveries go), ``open`` (they wait, spending no attempts) or
            ``half-open`` (one probe delivery is being tried).
        failures: consecutive transient failures seen.
        opened_at: when the circuit last opened (None if it never did).
        next_probe_at: when the next probe may go (open circuits).
        last_error: the last transient failure (our text: status, codes, never content).
        opens: how many times the circuit has opened.
        updated_at: when this record was written.
    """

    destination: str
    state: str
    failures: int = 0
    opened_at: datetime | None = None
    next_probe_at: datetime | None = None
    last_error: str = ""
    opens: int = 0
    updated_at: datetime | None = None


KeyFunction = Callable[[Envelope], str | None]
"""Computes a message's ordering key digest for one destination (None: unordered)."""


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """Filter for listing messages, newest first. All criteria are optional (AND);
    ``limit`` None means no limit."""

    channel: str | None = None
    state: MessageState | None = None
    since: datetime | None = None
    until: datetime | None = None
    control_id: str | None = None
    destination: str | None = None
    delivery_state: DeliveryState | None = None
    limit: int | None = 50
    channels: tuple[str, ...] | None = None
    """Tenant scope: only these channels (None: every channel; empty: none)."""
    route: str | None = None
    """Messages with a delivery made by this route."""
    patient_key: bytes | None = None
    """Messages indexed under this patient digest (:mod:`engine.patient_index`)."""
    before_id: str | None = None
    """Keyset paging (newest first): only messages whose id sorts before this one."""


class Store(ConsoleStore, ABC):
    """Durable storage of messages, their transitions and their deliveries.

    Implementations must make each method atomic and durable when it returns, and must
    be safe to call concurrently from many coroutines of one event loop.
    """

    @abstractmethod
    async def open(self) -> None:
        """Create or migrate the schema and start background resources."""

    @abstractmethod
    async def close(self) -> None:
        """Flush pending writes and release resources (the engine lock too). Idempotent."""

    @abstractmethod
    async def lock_engine(self, node: str) -> None:
        """Make this process the engine of the store, until :meth:`close`.

        SQLite: one engine per store file (an exclusive lock on ``<store>.lock``, which
        names the holder). PostgreSQL: one engine per ``node`` name on the database
        (several nodes with different names share it). Call before :meth:`open`.
        Tools (CLI, workers of this engine) open the store without it.

        Raises:
            StoreLocked: another engine holds it; the message names that process.
        """

    # --- intake -----------------------------------------------------------------------
    @abstractmethod
    async def accept(self, envelope: Envelope) -> None:
        """Commit a new message in state ``received``. Durable when it returns."""

    @abstractmethod
    async def reject(self, envelope: Envelope, reason: str) -> None:
        """Commit a message refused at intake, in state ``rejected``."""

    # --- processing -------------------------------------------------------------------
    @abstractmethod
    async def start_processing(
        self, message_id: str, *, owner: str | None = None, lease: float = DEFAULT_LEASE
    ) -> StoredMessage | None:
        """Move an unfinished message to ``processing`` and return it.

        With ``owner`` (``"<node>:<pid>"``) the message is claimed for ``lease`` seconds
        (renewed when the same owner calls again); a claim whose lease ran out is taken
        over. Returns None when the message is finished, or when another owner's lease
        is live (also for ``owner`` None, which records no claim: the in-process engine).
        """

    @abstractmethod
    async def finish_routing(
        self, message_id: str, outcome: RoutingOutcome
    ) -> list[DeliveryRecord]:
        """Record the routing outcome, merge ``outcome.metadata`` into the message's
        metadata and create one delivery per (destination, route), atomically; the
        message's claim is cleared.

        Idempotent: a delivery that already exists for (message, route, destination) is
        kept. Returns the message's deliveries that still need work (pending or
        retrying), in delivery order.
        """

    @abstractmethod
    async def fail_message(self, message_id: str, reason: str) -> None:
        """Move a message to ``error`` with the reason; its claim is cleared."""

    @abstractmethod
    async def claim_delivery(
        self, delivery_id: str, *, owner: str, lease: float = DEFAULT_LEASE
    ) -> DeliveryRecord | None:
        """Claim an unfinished delivery for ``owner`` for ``lease`` seconds.

        Returns the claimed delivery, or None when it is finished, when another owner's
        claim on it is live, or when it waits behind an earlier delivery of its
        (destination, ordering key) that still holds the key: only the head of a key can
        be claimed, so two owners never send two deliveries of one key at once (the
        caller still checks :meth:`order_blocker` for earlier messages not routed yet).
        The same owner claiming again renews its lease; ``lease=0`` gives it back.
        :meth:`record_attempt` clears the claim.
        """

    @abstractmethod
    async def record_attempt(
        self,
        delivery_id: str,
        outcome: DeliveryState,
        detail: str,
        *,
        next_attempt_at: datetime | None = None,
        dedupe_key: str | None = None,
        release: bool = False,
        sent: bytes | None = None,
        response: bytes | None = None,
    ) -> DeliveryRecord:
        """Record one delivery attempt and the delivery's new state.

        ``outcome`` is ``sent`` (then ``dedupe_key`` is recorded), ``retrying`` (with
        ``next_attempt_at``) or ``dead`` (``release`` true: it does not hold its ordering
        key). ``sent`` and ``response`` (what went out, the peer's answer body) are kept
        with the attempt, protected like the raw message (:meth:`attempt_payloads`). The
        delivery's claim is cleared. Returns the updated delivery.
        """

    @abstractmethod
    async def record_probe(
        self, delivery_id: str, detail: str, *, next_attempt_at: datetime
    ) -> DeliveryRecord:
        """Record a failed circuit-breaker probe: the delivery goes (or stays) ``retrying``
        until ``next_attempt_at`` with ``detail`` as its last error, and the probe is listed
        with its attempts, but its attempt count (the retry budget) does not change."""

    @abstractmethod
    async def requeue_delivery(self, delivery_id: str, reason: str) -> DeliveryRecord:
        """Put a delivery back to ``pending``, due now, with a fresh retry budget; the
        reason is recorded as an attempt with outcome ``pending`` (operator replay)."""

    @abstractmethod
    async def release_delivery(self, delivery_id: str, reason: str) -> DeliveryRecord:
        """Let the deliveries queued behind a dead one go on; it stays ``dead``.

        Raises:
            StoreError: the delivery is not dead.
        """

    @abstractmethod
    async def request_replay(
        self,
        message_id: str,
        *,
        destination: str | None = None,
        resend_sent: bool = False,
        reason: str = "replayed by operator",
    ) -> ReplayResult:
        """Mark a finished message for a new routing run (state back to ``received``).

        When it is routed again, its deliveries in scope (every destination, or only
        ``destination``) that are dead (and sent ones if ``resend_sent``) go back to
        ``pending`` with a fresh retry budget, new ones are created, and dead ones the
        new routing no longer names are released. Messages still in progress and
        messages rejected at intake are left alone (``replayed`` False, with a note).
        """

    # --- ordering ---------------------------------------------------------------------
    @abstractmethod
    async def order_blocker(
        self, delivery: DeliveryRecord, key_of: KeyFunction | None = None
    ) -> Blocker | None:
        """The earlier work an ordered delivery must wait for, or None if it may go.

        It waits for the earliest delivery (by message id, then ``seq``: route order
        within one message) of the same destination and ordering key that holds the key,
        and, when ``key_of`` is given, for any earlier message not routed yet whose key is
        the same. Both are read in one snapshot.
        """

    @abstractmethod
    async def next_in_order(self, destination: str, order_key: str) -> DeliveryRecord | None:
        """The delivery now at the head of (destination, key), if it is pending or
        retrying (a dead head that holds the key returns None)."""

    @abstractmethod
    async def runnable(self, now: datetime, limit: int = 1000) -> Unfinished:
        """Work the engine should have queued: messages in ``received`` or ``processing``,
        and deliveries pending or retrying that are due and not waiting behind an
        earlier delivery of their ordering key; work under a live claim is left out (a
        claim whose lease expired at ``now`` is included: a dead node's work is taken
        over). Oldest first, at most ``limit`` each."""

    # --- reading ----------------------------------------------------------------------
    @abstractmethod
    async def get_message(self, message_id: str) -> StoredMessage:
        """Raises NotFound."""

    @abstractmethod
    async def history(self, message_id: str) -> list[Transition]:
        """Every state transition of a message, oldest first."""

    @abstractmethod
    async def deliveries(self, message_id: str) -> list[DeliveryRecord]:
        """Every delivery of a message, in delivery order."""

    @abstractmethod
    async def get_delivery(self, delivery_id: str) -> DeliveryRecord:
        """Raises NotFound."""

    @abstractmethod
    async def attempts(self, delivery_id: str) -> list[Attempt]:
        """Every attempt of a delivery, oldest first."""

    @abstractmethod
    async def attempt_payloads(self, delivery_id: str) -> list[AttemptPayload]:
        """The payloads kept with a delivery's attempts, oldest first (decrypted)."""

    @abstractmethod
    async def rotate_payloads(self, batch: int = 500) -> int:
        """Re-encrypt every payload not sealed under the store's current key (and seal
        those stored in clear) in committed batches; return how many were rewritten.

        Raises:
            StoreError: a payload's key is not in the keyring (nothing of that batch is
                changed).
        """

    @abstractmethod
    async def purge_payloads(
        self,
        before: datetime,
        *,
        channel: str | None = None,
        exclude: Sequence[str] = (),
        limit: int = 500,
    ) -> int:
        """Retention: remove the payloads (raw message, attempt payloads) of messages
        received before ``before`` (in ``channel``, or in every channel but ``exclude``)
        whose work is over: ``routed``, ``filtered``, ``unmatched`` or ``rejected`` with
        every delivery ``sent``. Undelivered messages (unfinished, in ``error``, or with a
        delivery pending, retrying or dead) are never touched. Metadata, states, history
        and attempts stay; the raw message reads as empty and cannot be replayed. The
        space is given back (SQLite: incremental vacuum). Returns how many messages were
        purged (at most ``limit``: call again until it returns less)."""

    @abstractmethod
    async def list_messages(self, query: MessageQuery) -> list[StoredMessage]:
        """Messages matching the query, newest first."""

    @abstractmethod
    async def message_ids(self, query: MessageQuery) -> list[str]:
        """Ids of the messages matching the query, oldest first."""

    @abstractmethod
    async def count_by_state(self) -> dict[MessageState, int]:
        """Number of messages per state."""

    @abstractmethod
    async def unfinished(self) -> Unfinished:
        """Messages in received/processing and deliveries in pending/retrying."""

    @abstractmethod
    async def intake_keys(self, channel: str, prefix: str) -> set[str]:
        """The ``intake.key`` metadata values starting with ``prefix`` that ``channel``
        committed: how a source finds what it already stored after a crash (indexed)."""

    # --- destinations -----------------------------------------------------------------
    @abstractmethod
    async def save_destination_status(self, status: DestinationStatus) -> None:
        """Record a destination's circuit state (one row per destination, replaced)."""

    @abstractmethod
    async def destination_statuses(self) -> list[DestinationStatus]:
        """Every recorded destination status, by destination name."""

    @abstractmethod
    async def delivery_counts(self) -> dict[str, dict[DeliveryState, int]]:
        """Number of deliveries per destination and state."""

    @abstractmethod
    async def was_delivered(self, destination: str, dedupe_key: str) -> bool:
        """True if a delivery with this dedupe key succeeded to this destination."""
