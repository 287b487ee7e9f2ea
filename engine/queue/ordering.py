"""Ordering keys: which deliveries of a destination must go one after the other.

A destination configured with ``ordering: {key: ...}`` delivers the messages that share a
key in the order they were received (by message id), one at a time; messages with other
keys are not held up. The key is computed once, when the message is routed, and the store
keeps a digest of it on the delivery row (never the identifier itself, which is patient
data). A message whose key cannot be computed (not HL7v2, element empty) is delivered
without ordering.

Keys:

* ``patient``: the patient identifier of PID-3, the first repetition whose identifier type
  (CX-5) is ``PI`` (the IPP in PAM-FR), else the first non-empty repetition, qualified by
  its assigning authority (CX-4.1, else CX-4.2);
* an HL7v2 path such as ``PID-3[1].1`` or ``PV1-19.1`` (the visit number: per encounter).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from engine.errors import ParseError
from engine.formats.hl7v2 import Message, parse_stored
from engine.formats.hl7v2.parser import CODEC, DECODE
from engine.formats.hl7v2.path import InvalidPath, parse_path
from engine.message import HL7V2, Envelope

PATIENT = "patient"
OnDead = Literal["block", "continue"]


def check_key(key: str) -> str:
    """Return ``key`` if it is ``patient`` or an HL7v2 path without ``*``.

    Raises:
        ValueError: anything else (the message says what is accepted).
    """
    if key == PATIENT:
        return key
    try:
        path = parse_path(key)
    except InvalidPath as exc:
        raise ValueError(f"ordering key must be 'patient' or an HL7v2 path: {exc}") from exc
    if path.has_wildcard:
        raise ValueError(f"ordering key {key!r} must name one element, without '*'")
    return key


@dataclass(frozen=True, slots=True)
class OrderingRule:
    """How one destination orders its deliveries.

    Attributes:
        key: ``patient`` or an HL7v2 path (see the module docstring).
        on_dead: ``block`` (default): a dead delivery keeps holding its key, so later
            messages of that key wait until an operator replays or releases it;
            ``continue``: later messages go on past a dead letter.
    """

    key: str
    on_dead: OnDead = "block"

    def __post_init__(self) -> None:
        check_key(self.key)

    def key_of(self, envelope: Envelope) -> str | None:
        """The digest of the message's key, or None when it has none. Never raises."""
        if envelope.content_type != HL7V2:
            return None
        md = envelope.metadata
        return _digest(self.key, envelope.raw, md.get(CODEC, "utf-8"), md.get(DECODE, ""))


@lru_cache(maxsize=4096)
def _digest(key: str, raw: bytes, codec: str, decode: str) -> str | None:
    """Cached: a delivery check may compute the keys of the same waiting messages often."""
    try:
        message = parse_stored(raw, {CODEC: codec, DECODE: decode})
        value = patient_key(message) if key == PATIENT else message.get(key)
    except (ParseError, InvalidPath, LookupError, ValueError):
        return None
    if not value:
        return None
    return hashlib.sha256(f"{key}\x1f{value}".encode()).hexdigest()[:32]


def patient_key(message: Message) -> str:
    """``authority|identifier`` of the patient (see the module docstring), or ""."""
    count = len(message.get_all("PID-3"))
    chosen = 0
    for rep in range(1, count + 1):
        if not message.get(f"PID-3[{rep}].1"):
            continue
        if message.get(f"PID-3[{rep}].5") == "PI":
            chosen = rep
            break
        chosen = chosen or rep
    if not chosen:
        return ""
    authority = message.get(f"PID-3[{chosen}].4.1") or message.get(f"PID-3[{chosen}].4.2")
    return f"{authority}|{message.get(f'PID-3[{chosen}].1')}"


__all__ = ["PATIENT", "OnDead", "OrderingRule", "check_key", "patient_key"]
