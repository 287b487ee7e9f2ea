"""The one exception tree of Passerelle.

Every error the engine raises or translates derives from :class:`PasserelleError`.
Library errors (sqlite3, ssl, yaml, pydantic, socket) are translated at the boundary
where they occur, always with ``raise ... from exc``, so callers never catch a
third-party exception type.

::

    PasserelleError
    ├── ConfigError                  routes.yaml / mapping files are invalid (carries diagnostics)
    ├── ChannelError                 an inbound channel cannot run (bind, TLS, directory)
    │   └── FramingError             bytes on the wire are not a valid frame (MLLP)
    │       └── FrameTooLarge        a frame exceeds the configured maximum size
    ├── MessageError                 the content of one message is unusable
    │   ├── ParseError               not parseable (not HL7, mandatory MSH field missing...)
    │   ├── ValidationFailed         parseable, but refused by validation rules
    │   ├── DocumentError            an XML/CDA document is unusable (malformed, attack, too big)
    │   └── MappingError             a mapping rule failed on this message
    ├── RoutingError                 the router could not evaluate a route
    ├── DeliveryError                a destination did not take a payload
    │   ├── RetryableDeliveryError   transient: retry later (after ``retry_after`` if given)
    │   └── PermanentDeliveryError   definitive refusal: dead letter at once
    └── StoreError                   the durable store failed
        └── NotFound                 no such message or delivery
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config.diagnostics import Diagnostic


class PasserelleError(Exception):
    """Base of every error raised by Passerelle."""


class ConfigError(PasserelleError):
    """The configuration is invalid; ``diagnostics`` lists every problem found."""

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(message)
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)


class ChannelError(PasserelleError):
    """An inbound channel cannot start or keep running."""


class FramingError(ChannelError):
    """Bytes received on a connection do not form a valid frame."""


class FrameTooLarge(FramingError):
    """A frame grew past the configured maximum size; ``head`` holds its first bytes."""

    def __init__(self, message: str, head: bytes = b"") -> None:
        super().__init__(message)
        self.head = head


class MessageError(PasserelleError):
    """The content of one message is unusable; other messages are unaffected."""


class ParseError(MessageError):
    """The message cannot be parsed.

    Attributes:
        segment: segment id where the problem was found (e.g. ``"MSH"``), if known.
        field: 1-based field number, if known.
        code: HL7 table 0357 error code that best describes the problem.
    """

    def __init__(
        self, message: str, *, segment: str | None = None, field: int | None = None, code: int = 100
    ) -> None:
        super().__init__(message)
        self.segment = segment
        self.field = field
        self.code = code


class ValidationFailed(MessageError):
    """The message parsed but was refused by validation rules."""


class DocumentError(MessageError):
    """An XML document (CDA, SOAP) is unusable; ``kind`` says why, for status codes.

    Kinds: ``oversize`` (over the size limit), ``attack`` (DTD, entities: refused unread),
    ``malformed`` (not well-formed XML), ``not-cda`` (well-formed, but not a CDA R2
    document), ``invalid`` (a CDA that breaks a schema or a rule that is required).
    """

    def __init__(self, message: str, *, kind: str = "malformed") -> None:
        super().__init__(message)
        self.kind = kind


class MappingError(MessageError):
    """A mapping rule failed; the message names the map, the rule and the source path."""


class RoutingError(PasserelleError):
    """A route condition could not be evaluated."""


class DeliveryError(PasserelleError):
    """A destination did not take a payload.

    ``response`` is the peer's raw answer when there was one (it may quote patient data:
    it is stored with the delivery's payloads, never put in the message text or logs).
    """

    def __init__(self, message: str, *, response: bytes | None = None) -> None:
        super().__init__(message)
        self.response = response


class RetryableDeliveryError(DeliveryError):
    """A transient failure: the delivery is retried, after ``retry_after`` seconds if given."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        response: bytes | None = None,
    ) -> None:
        super().__init__(message, response=response)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """A definitive refusal: the delivery goes to the dead letter without further attempts."""


class StoreError(PasserelleError):
    """The durable store failed (I/O, corruption, constraint)."""


class NotFound(StoreError):
    """No message or delivery with that id."""


class StoreLocked(StoreError):
    """Another engine already runs on this store (or, on PostgreSQL, as this node)."""


__all__ = [
    "ChannelError",
    "ConfigError",
    "DeliveryError",
    "DocumentError",
    "FrameTooLarge",
    "FramingError",
    "MappingError",
    "MessageError",
    "NotFound",
    "ParseError",
    "PasserelleError",
    "PermanentDeliveryError",
    "RetryableDeliveryError",
    "RoutingError",
    "StoreError",
    "StoreLocked",
    "ValidationFailed",
]
