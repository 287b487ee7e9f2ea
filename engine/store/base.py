"""The store interface every backend implements, and the records it returns.

The store is the source of truth: a message exists once :meth:`Store.accept` has returned,
and every state change is a recorded transition. Queues carry ids only and can be rebuilt
from :meth:`Store.unfinished` at any time. Every method raises :class:`~engine.errors.StoreError`
on backend failure and :class:`~engine.errors.NotFound` for an unknown id.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from engine.message import DeliveryState, Envelope, MessageState


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


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery_id: str
    number: int
    at: datetime
    outcome: DeliveryState
    detail: str


@dataclass(frozen=True, slots=True)
class RoutingOutcome:
    """The router's verdict, recorded atomically with the deliveries it creates.

    Attributes:
        state: ``routed``, ``filtered`` or ``unmatched``.
        reason: why (route names, the filtering rule).
        deliveries: (destination, route) pairs; may be empty for filtered/unmatched.
    """

    state: MessageState
    reason: str
    deliveries: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True, slots=True)
class Unfinished:
    """Work to resume after a restart."""

    message_ids: list[str] = field(default_factory=list)
    deliveries: list[tuple[str, datetime | None]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """Filter for listing messages, newest first. All criteria are optional (AND)."""

    channel: str | None = None
    state: MessageState | None = None
    since: datetime | None = None
    until: datetime | None = None
    control_id: str | None = None
    destination: str | None = None
    delivery_state: DeliveryState | None = None
    limit: int = 50


class Store(ABC):
    """Durable storage of messages, their transitions and their deliveries.

    Implementations must make each method atomic and durable when it returns, and must
    be safe to call concurrently from many coroutines of one event loop.
    """

    @abstractmethod
    async def open(self) -> None:
        """Create or migrate the schema and start background resources."""

    @abstractmethod
    async def close(self) -> None:
        """Flush pending writes and release resources. Idempotent."""

    # --- intake -----------------------------------------------------------------------
    @abstractmethod
    async def accept(self, envelope: Envelope) -> None:
        """Commit a new message in state ``received``. Durable when it returns."""

    @abstractmethod
    async def reject(self, envelope: Envelope, reason: str) -> None:
        """Commit a message refused at intake, in state ``rejected``."""

    # --- processing -------------------------------------------------------------------
    @abstractmethod
    async def start_processing(self, message_id: str) -> StoredMessage | None:
        """Move an unfinished message to ``processing``; None if it is already finished."""

    @abstractmethod
    async def finish_routing(
        self, message_id: str, outcome: RoutingOutcome
    ) -> list[DeliveryRecord]:
        """Record the routing outcome and create one delivery per destination, atomically.

        Idempotent: a delivery that already exists for (message, destination) is kept.
        Returns the message's deliveries that still need work (pending or retrying).
        """

    @abstractmethod
    async def fail_message(self, message_id: str, reason: str) -> None:
        """Move a message to ``error`` with the reason."""

    @abstractmethod
    async def record_attempt(
        self,
        delivery_id: str,
        outcome: DeliveryState,
        detail: str,
        *,
        next_attempt_at: datetime | None = None,
        dedupe_key: str | None = None,
    ) -> DeliveryRecord:
        """Record one delivery attempt and the delivery's new state.

        ``outcome`` is ``sent`` (then ``dedupe_key`` is recorded), ``retrying`` (with
        ``next_attempt_at``) or ``dead``. Returns the updated delivery.
        """

    @abstractmethod
    async def requeue_delivery(self, delivery_id: str, reason: str) -> DeliveryRecord:
        """Put a dead or sent delivery back to ``pending`` (operator replay)."""

    # --- reading ----------------------------------------------------------------------
    @abstractmethod
    async def get_message(self, message_id: str) -> StoredMessage:
        """Raises NotFound."""

    @abstractmethod
    async def history(self, message_id: str) -> list[Transition]:
        """Every state transition of a message, oldest first."""

    @abstractmethod
    async def deliveries(self, message_id: str) -> list[DeliveryRecord]:
        """Every delivery of a message."""

    @abstractmethod
    async def get_delivery(self, delivery_id: str) -> DeliveryRecord:
        """Raises NotFound."""

    @abstractmethod
    async def attempts(self, delivery_id: str) -> list[Attempt]:
        """Every attempt of a delivery, oldest first."""

    @abstractmethod
    async def list_messages(self, query: MessageQuery) -> list[StoredMessage]:
        """Messages matching the query, newest first."""

    @abstractmethod
    async def count_by_state(self) -> dict[MessageState, int]:
        """Number of messages per state."""

    @abstractmethod
    async def unfinished(self) -> Unfinished:
        """Messages in received/processing and deliveries in pending/retrying."""

    @abstractmethod
    async def was_delivered(self, destination: str, dedupe_key: str) -> bool:
        """True if a delivery with this dedupe key succeeded to this destination."""
