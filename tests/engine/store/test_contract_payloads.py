"""Store contract: payloads at rest (encryption, key rotation) and attempt payloads."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from engine.errors import StoreError
from engine.message import HL7V2, DeliveryState, Envelope, MessageState
from engine.store.base import MessageQuery, RoutingOutcome, Store
from engine.store.crypto import Keyring, PayloadCipher, new_key_line
from engine.store.postgres import PostgresStore
from engine.store.sqlite import SqliteStore
from tests.engine.store.conftest import StoreFactory, reopened

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "hl7v2" / "adt_a01_admission.hl7"
PATIENT_DATA = [b"MOREAU", b"LEGRAND", "Élodie".encode(), b"285074410912393"]


def cipher(*lines: str) -> PayloadCipher:
    return PayloadCipher(Keyring.parse("\n".join(lines)))


def sample(n: int = 0) -> Envelope:
    raw = SAMPLE.read_bytes()
    return Envelope.new(
        channel="in", raw=raw, content_type=HL7V2, metadata={"hl7.control_id": f"C{n}"}
    )


async def stored_bytes(store: Store) -> bytes:
    """Everything the backend keeps on disk or in its tables, as bytes."""
    if isinstance(store, SqliteStore):
        files = [store.path.with_name(store.path.name + s) for s in ("", "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    assert isinstance(store, PostgresStore)
    async with await psycopg.AsyncConnection.connect(store.dsn) as conn:
        rows = await (
            await conn.execute(
                "SELECT raw FROM messages UNION ALL SELECT coalesce(sent, '') || "
                "coalesce(response, '') FROM attempt_payloads"
            )
        ).fetchall()
    return b"".join(bytes(r[0]) for r in rows)


async def routed(store: Store, env: Envelope) -> str:
    await store.accept(env)
    await store.start_processing(env.id)
    (d,) = await store.finish_routing(
        env.id, RoutingOutcome(MessageState.ROUTED, "r", [("platform", "r")])
    )
    return d.id


async def test_with_a_keyring_no_patient_data_is_stored_in_clear(
    store_factory: StoreFactory,
) -> None:
    _, k1 = new_key_line()
    store = store_factory(cipher=cipher(k1))
    await store.open()
    try:
        env = sample()
        delivery_id = await routed(store, env)
        await store.record_attempt(
            delivery_id, DeliveryState.RETRYING, "422", sent=env.raw, response=b'{"n":"MOREAU"}'
        )
        # Then the engine reads the payloads back as they were
        assert (await store.get_message(env.id)).envelope.raw == env.raw
        (payload,) = await store.attempt_payloads(delivery_id)
        assert (payload.number, payload.sent, payload.response) == (
            1, env.raw, b'{"n":"MOREAU"}',
        )  # fmt: skip
        (listed,) = await store.list_messages(MessageQuery(control_id="C0"))
        assert listed.envelope.raw == env.raw
    finally:
        await store.close()
    # but nothing the store wrote holds a name or an INS
    written = await stored_bytes(store)
    assert b"MSH|" not in written
    for value in PATIENT_DATA:
        assert value not in written, value


async def test_without_a_keyring_attempt_payloads_are_kept_as_they_are(store: Store) -> None:
    env = sample()
    delivery_id = await routed(store, env)
    await store.record_attempt(delivery_id, DeliveryState.RETRYING, "503")  # nothing kept
    await store.record_attempt(delivery_id, DeliveryState.SENT, "201", sent=b"{}", response=None)
    (payload,) = await store.attempt_payloads(delivery_id)
    assert (payload.number, payload.sent, payload.response) == (2, b"{}", None)
    assert b"MOREAU" in await stored_bytes(store)


async def test_rotation_reencrypts_everything_under_the_new_key(
    store_factory: StoreFactory,
) -> None:
    (old_id, old), (new_id, new) = new_key_line(), new_key_line()
    store = store_factory(cipher=cipher(old))
    await store.open()
    envs = [sample(n) for n in range(3)]
    delivery = await routed(store, envs[0])
    for env in envs[1:]:
        await store.accept(env)
    await store.record_attempt(delivery, DeliveryState.SENT, "ok", sent=b"sent", response=b"r")
    await store.close()
    # Given the new key first in the keyring, the old one still there
    rotating = reopened(store, cipher=cipher(new, old))
    await rotating.open()
    assert await rotating.rotate_payloads(batch=2) == 4  # three messages, one attempt
    assert await rotating.rotate_payloads() == 0
    await rotating.close()
    # Then the old key can go
    after = reopened(store, cipher=cipher(new))
    await after.open()
    try:
        assert [(await after.get_message(e.id)).envelope.raw for e in envs] == [e.raw for e in envs]
        (payload,) = await after.attempt_payloads(delivery)
        assert (payload.sent, payload.response) == (b"sent", b"r")
    finally:
        await after.close()
    # and a store opened with the old key alone says which key it lacks
    stale = reopened(store, cipher=cipher(old))
    await stale.open()
    try:
        with pytest.raises(StoreError, match=f"under key '{new_id}', which the keyring does"):
            await stale.get_message(envs[0].id)
    finally:
        await stale.close()
    assert old_id != new_id


async def test_encrypted_payloads_need_the_keyring(store_factory: StoreFactory) -> None:
    key_id, line = new_key_line()
    store = store_factory(cipher=cipher(line))
    await store.open()
    env = sample()
    await store.accept(env)
    await store.close()
    clear = reopened(store)
    await clear.open()
    try:
        with pytest.raises(StoreError, match=f"is encrypted \\(key '{key_id}'\\)") as error:
            await clear.get_message(env.id)
        assert "MOREAU" not in str(error.value)
        assert (await clear.count_by_state())[MessageState.RECEIVED] == 1  # metadata readable
        # turning encryption on later: rotation seals what was stored in clear
    finally:
        await clear.close()


async def test_turning_encryption_on_seals_what_was_stored_in_clear(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    await store.open()
    env = sample()
    await store.accept(env)
    await store.close()
    _, line = new_key_line()
    sealed = reopened(store, cipher=cipher(line))
    await sealed.open()
    try:
        assert await sealed.rotate_payloads() == 1
        assert (await sealed.get_message(env.id)).envelope.raw == env.raw
    finally:
        await sealed.close()
    assert b"MOREAU" not in await stored_bytes(sealed)
