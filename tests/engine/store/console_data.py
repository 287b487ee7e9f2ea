"""Builders for the console contract tests: messages in every state, deliveries with
attempts, patient keys. Backend-independent (only the :class:`Store` interface)."""

from __future__ import annotations

from collections.abc import Sequence

from engine.message import HL7V2, DeliveryState, Envelope, MessageState
from engine.patient_index import PatientIdKind, patient_key
from engine.store.base import DeliveryRecord, RoutingOutcome, Store

SECRET = b"console-contract-secret"


def key(value: str, kind: PatientIdKind = PatientIdKind.IPP) -> bytes:
    """The 17-byte digest of an identifier under the tests' secret."""
    return patient_key(SECRET, kind, value)


def envelope(channel: str = "mllp_in", control_id: str = "C1") -> Envelope:
    raw = b"MSH|^~\\&|A|B|C|D|20260301||ADT^A01|" + control_id.encode() + b"|P|2.5\r"
    return Envelope.new(
        channel=channel, raw=raw, content_type=HL7V2, metadata={"hl7.control_id": control_id}
    )


async def received(store: Store, channel: str = "mllp_in", control_id: str = "C1") -> Envelope:
    env = envelope(channel, control_id)
    await store.accept(env)
    return env


async def processing(store: Store, channel: str = "mllp_in") -> Envelope:
    env = await received(store, channel)
    await store.start_processing(env.id)
    return env


async def failed(store: Store, channel: str, reason: str) -> Envelope:
    env = await processing(store, channel)
    await store.fail_message(env.id, reason)
    return env


async def rejected(store: Store, channel: str, reason: str) -> Envelope:
    env = envelope(channel)
    await store.reject(env, reason)
    return env


async def finished(
    store: Store, channel: str, state: MessageState, reason: str = "rule"
) -> Envelope:
    """A message routed with no delivery: ``filtered``, ``unmatched`` or ``routed``."""
    env = await processing(store, channel)
    await store.finish_routing(env.id, RoutingOutcome(state, reason))
    return env


async def routed(
    store: Store,
    channel: str,
    pairs: Sequence[tuple[str, str]],
    outcomes: Sequence[DeliveryState | Sequence[DeliveryState]] = (),
    *,
    keys: Sequence[bytes] = (),
    control_id: str = "C1",
) -> tuple[Envelope, list[DeliveryRecord]]:
    """Accept, index under ``keys``, route to (destination, route) ``pairs`` and record the
    attempts ``outcomes`` (one outcome or a sequence of them per delivery; missing: none)."""
    env = await received(store, channel, control_id)
    await store.start_processing(env.id)
    if keys:
        await store.add_patient_keys(env.id, keys)
    deliveries = await store.finish_routing(
        env.id, RoutingOutcome(MessageState.ROUTED, "routes", pairs)
    )
    for d, outcome in zip(deliveries, outcomes, strict=False):
        for one in [outcome] if isinstance(outcome, DeliveryState) else outcome:
            detail = "AA" if one is DeliveryState.SENT else f"E_PEER {d.destination}"
            await store.record_attempt(d.id, one, detail)
    return env, deliveries


__all__ = ["SECRET", "envelope", "failed", "finished", "key", "processing", "received",
           "rejected", "routed"]  # fmt: skip
