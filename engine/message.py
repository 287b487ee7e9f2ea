"""The message model: an immutable envelope around the raw bytes, and the state enums.

The envelope is created once by a source channel and never changes; parsed views are
derived on demand and never replace ``raw``. States and transitions are recorded by the
store, not by the envelope.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class MessageState(StrEnum):
    """Lifecycle of a message. ``received`` and ``processing`` are unfinished states."""

    RECEIVED = "received"
    PROCESSING = "processing"
    ROUTED = "routed"
    FILTERED = "filtered"
    UNMATCHED = "unmatched"
    ERROR = "error"
    REJECTED = "rejected"  # refused at intake; the sender got a negative acknowledgement

    @property
    def finished(self) -> bool:
        return self not in (MessageState.RECEIVED, MessageState.PROCESSING)


class DeliveryState(StrEnum):
    """Lifecycle of one delivery (one message to one destination)."""

    PENDING = "pending"
    RETRYING = "retrying"
    SENT = "sent"
    DEAD = "dead"

    @property
    def finished(self) -> bool:
        return self in (DeliveryState.SENT, DeliveryState.DEAD)


class _UlidGenerator:
    """Monotonic ULIDs: 48-bit millisecond time + 80 bits of randomness, Crockford base32.

    Ids sort by creation time, which keeps store indexes append-friendly and makes
    ``messages list`` naturally chronological.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0

    def new(self) -> str:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                ms = self._last_ms
                rand = (self._last_rand + 1) & ((1 << 80) - 1)
            else:
                rand = int.from_bytes(os.urandom(10), "big")
            self._last_ms, self._last_rand = ms, rand
        value = (ms << 80) | rand
        return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


_ulids = _UlidGenerator()


def new_id() -> str:
    """Return a new 26-character, time-sortable identifier."""
    return _ulids.new()


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Envelope:
    """One received message, exactly as it arrived.

    Attributes:
        id: engine-wide unique id (ULID).
        channel: name of the source channel that received it.
        received_at: UTC time of reception.
        content_type: media type of ``raw`` (``application/hl7-v2`` for ER7).
        raw: the bytes received, unchanged (MLLP framing removed).
        metadata: string facts about the message known at intake (MSH fields, peer,
            TLS subject...). Never contains patient data beyond what routing needs.
    """

    id: str
    channel: str
    received_at: datetime
    content_type: str
    raw: bytes
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.metadata, MappingProxyType):
            object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    @classmethod
    def new(
        cls,
        *,
        channel: str,
        raw: bytes,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Envelope:
        return cls(
            id=new_id(),
            channel=channel,
            received_at=utcnow(),
            content_type=content_type,
            raw=raw,
            metadata=dict(metadata or {}),
        )


HL7V2 = "application/hl7-v2"

__all__ = ["HL7V2", "DeliveryState", "Envelope", "MessageState", "new_id", "utcnow"]
