"""Contracts between the engine and its channels (sources) and destinations.

A *source* receives bytes from the outside world and hands each message to the engine's
:class:`Intake`, which commits it to the store before returning; only then may the source
acknowledge (MLLP ACK, file move, HTTP 202). A *destination* takes one :class:`Payload`
at a time and either returns (delivered) or raises a :class:`~engine.errors.DeliveryError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from engine.message import Envelope


class ComponentConfig(BaseModel):
    """Base of every channel and destination config model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ConfigT = TypeVar("ConfigT", bound=ComponentConfig)


class Intake(Protocol):
    """What the engine offers a source. Both methods return only after the store commit."""

    async def accept(
        self, channel: str, raw: bytes, content_type: str, metadata: Mapping[str, str]
    ) -> Envelope:
        """Commit a message (state ``received``) and queue it for processing.

        Raises:
            StoreError: the commit failed; the source must answer negatively (AE/AR,
                HTTP 503, leave the file) so the sender retries.
        """
        ...

    async def reject(
        self,
        channel: str,
        raw: bytes,
        content_type: str,
        metadata: Mapping[str, str],
        reason: str,
    ) -> Envelope:
        """Record a message refused at intake (state ``rejected``) with the reason.

        Raises:
            StoreError: the record could not be written (the refusal still stands).
        """
        ...


class Source(ABC, Generic[ConfigT]):
    """An inbound channel. The engine calls :meth:`start` once and :meth:`stop` once."""

    def __init__(self, name: str, config: ConfigT) -> None:
        self.name = name
        self.config = config

    @abstractmethod
    async def start(self, intake: Intake) -> None:
        """Begin accepting input; return once ready (listening, watching).

        Raises:
            ChannelError: the channel cannot start (address in use, bad certificate...).
        """

    @abstractmethod
    async def stop(self) -> None:
        """Stop taking new input and let in-flight acknowledgements finish. Idempotent."""

    def describe(self) -> str:
        """A one-line, patient-free description for logs (address, directory)."""
        return self.name


@dataclass(frozen=True, slots=True)
class Payload:
    """What a destination sends: bytes with a media type and string metadata."""

    body: bytes
    content_type: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeliveryContext:
    """Identity of one delivery attempt, for naming, idempotency keys and logs."""

    delivery_id: str
    message_id: str
    destination: str
    attempt: int
    dedupe_key: str


class Destination(ABC, Generic[ConfigT]):
    """An outbound connector. ``open`` before the first send, ``close`` once at shutdown."""

    def __init__(self, name: str, config: ConfigT) -> None:
        self.name = name
        self.config = config

    async def open(self) -> None:
        """Prepare resources (pools, directories). Raises ChannelError on failure."""

    @abstractmethod
    async def send(self, payload: Payload, context: DeliveryContext) -> str:
        """Deliver one payload; return a short, patient-free detail (path, ACK code).

        Must be idempotent for the same ``context.dedupe_key``: a redelivery after a crash
        must not create a duplicate at the peer.

        Raises:
            RetryableDeliveryError: transient failure; the engine retries with backoff.
            PermanentDeliveryError: definitive refusal; the engine dead-letters at once.
        """

    async def close(self) -> None:
        """Release resources. Idempotent."""


__all__ = [
    "ComponentConfig",
    "ConfigT",
    "DeliveryContext",
    "Destination",
    "Intake",
    "Payload",
    "Source",
]
