"""Store contract (console): patient-key search, tenant scope, route filter and keyset
paging of :class:`MessageQuery`, combined with the older criteria, on every backend."""

from __future__ import annotations

from engine.message import DeliveryState, MessageState
from engine.patient_index import PatientIdKind
from engine.store.base import MessageQuery, Store
from tests.engine.store.console_data import failed, key, received, routed

SENT, DEAD = DeliveryState.SENT, DeliveryState.DEAD
ALICE, BOB = key("123456"), key("654321")
ALICE_INS = key("285074410912393", PatientIdKind.INS)


async def ids(store: Store, **criteria: object) -> list[str]:
    return [m.envelope.id for m in await store.list_messages(MessageQuery(**criteria))]  # type: ignore[arg-type]


async def test_patient_keys_find_a_patients_messages_newest_first(store: Store) -> None:
    a1, _ = await routed(store, "adt", [("lab", "r1")], keys=[ALICE, ALICE_INS])
    b1, _ = await routed(store, "adt", [("lab", "r1")], keys=[BOB])
    await received(store, "adt")  # not indexed
    a2, _ = await routed(store, "orders", [("dmp", "r2")], [SENT], keys=[ALICE])
    # When the pipeline indexes a message again (a replay) with a repeated key
    await store.add_patient_keys(a1.id, [ALICE, ALICE, ALICE_INS])
    await store.add_patient_keys(b1.id, [])
    # Then each message appears once, newest first, under each of its keys
    assert await ids(store, patient_key=ALICE) == [a2.id, a1.id]
    assert await ids(store, patient_key=ALICE_INS) == [a1.id]
    assert await ids(store, patient_key=BOB) == [b1.id]
    assert await ids(store, patient_key=key("000000")) == []
    # combined with the other criteria
    assert await ids(store, patient_key=ALICE, channel="adt") == [a1.id]
    assert await ids(store, patient_key=ALICE, channels=("orders", "other")) == [a2.id]
    assert await ids(store, patient_key=ALICE, destination="dmp", delivery_state=SENT) == [a2.id]
    assert await ids(store, patient_key=ALICE, route="r1") == [a1.id]
    assert await ids(store, patient_key=ALICE, state=MessageState.ROUTED, limit=1) == [a2.id]
    assert await ids(store, patient_key=ALICE, before_id=a2.id) == [a1.id]
    assert await store.message_ids(MessageQuery(patient_key=ALICE)) == [a1.id, a2.id]


async def test_the_tenant_scope_limits_the_channels(store: Store) -> None:
    made: dict[str, list[str]] = {}
    for n, channel in enumerate(["a", "b", "c", "a", "b", "c", "a"]):
        env = await received(store, channel, control_id=f"C{n}")
        made.setdefault(channel, []).append(env.id)
    everything = await ids(store, limit=None)
    in_ab = [i for i in everything if i in made["a"] + made["b"]]
    # several channels: merged newest first, limit applied to the merge
    assert await ids(store, channels=("a", "b"), limit=None) == in_ab
    assert await ids(store, channels=("b", "a"), limit=3) == in_ab[:3]
    assert await ids(store, channels=("c",)) == made["c"][::-1]
    # an empty scope sees nothing; a channel outside the scope neither
    assert await ids(store, channels=()) == []
    assert await store.message_ids(MessageQuery(channels=())) == []
    assert await ids(store, channels=("a", "b"), channel="c") == []
    assert await ids(store, channels=("a", "b"), channel="b") == made["b"][::-1]
    assert await ids(store, channels=("zzz",)) == []
    # message_ids: oldest first
    assert await store.message_ids(MessageQuery(channels=("a", "b"), limit=None)) == in_ab[::-1]
    assert (
        await store.message_ids(MessageQuery(channels=("a", "c"), limit=2))
        == sorted(made["a"] + made["c"])[:2]
    )


async def test_the_route_filter_finds_messages_by_their_deliveries(store: Store) -> None:
    one, _ = await routed(store, "adt", [("lab", "to_lab")], [SENT])
    two, _ = await routed(store, "adt", [("lab", "to_lab"), ("dmp", "to_dmp")], [SENT, DEAD])
    three, _ = await routed(store, "orders", [("dmp", "to_dmp")], [SENT])
    await failed(store, "adt", "E_PARSE")
    assert await ids(store, route="to_lab") == [two.id, one.id]
    assert await ids(store, route="to_dmp") == [three.id, two.id]
    assert await ids(store, route="to_dmp", channel="adt") == [two.id]
    assert await ids(store, route="to_dmp", delivery_state=DEAD) == [two.id]
    assert await ids(store, route="to_dmp", channels=("orders",)) == [three.id]
    assert await ids(store, route="nowhere") == []
    assert await store.message_ids(MessageQuery(route="to_lab")) == [one.id, two.id]


async def test_keyset_paging_walks_every_message_once(store: Store) -> None:
    made = []
    for n in range(11):
        channel = "a" if n % 3 else "b"
        if n % 4 == 0:
            made.append((await failed(store, channel, "E_ROUTE")).id)
        else:
            made.append((await received(store, channel, control_id=f"C{n}")).id)
    newest_first = made[::-1]

    async def walk(**criteria: object) -> list[str]:
        seen: list[str] = []
        before: str | None = None
        while True:
            page = await ids(store, limit=3, before_id=before, **criteria)
            assert len(page) <= 3
            seen.extend(page)
            if len(page) < 3:
                return seen
            before = page[-1]

    assert await walk() == newest_first
    assert await walk(channel="a") == [i for n, i in enumerate(made) if n % 3][::-1]
    errors = [m.envelope.id for m in await store.list_messages(
        MessageQuery(state=MessageState.ERROR, limit=None))]  # fmt: skip
    assert errors == [i for n, i in enumerate(made) if n % 4 == 0][::-1]
    assert await walk(state=MessageState.ERROR) == errors
    assert await walk(channels=("a", "b")) == newest_first
    assert (
        await walk(channels=("b",), state=MessageState.ERROR)
        == [i for n, i in enumerate(made) if n % 4 == 0 and n % 3 == 0][::-1]
    )
    # a cursor from another listing still works: it is a message id
    assert await ids(store, before_id=made[5], limit=None) == made[:5][::-1]
    assert await ids(store, before_id=made[0]) == []
    assert await store.message_ids(MessageQuery(before_id=made[3], limit=None)) == made[:3]


async def test_a_time_window_combines_with_paging(store: Store) -> None:
    made = [await received(store, "adt", control_id=f"C{n}") for n in range(5)]
    window = {"since": made[1].received_at, "until": made[4].received_at}
    assert await ids(store, **window) == [made[3].id, made[2].id, made[1].id]
    assert await ids(store, before_id=made[3].id, **window) == [made[2].id, made[1].id]
    assert await store.message_ids(MessageQuery(since=made[3].received_at)) == [
        made[3].id, made[4].id,
    ]  # fmt: skip
