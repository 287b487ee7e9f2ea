"""Store contract: one delivery per (message, route, destination), facts merged at routing."""

from __future__ import annotations

from engine.message import HL7V2, DeliveryState, Envelope, MessageState, utcnow
from engine.store.base import MessageQuery, RoutingOutcome, Store


def envelope(control_id: str = "C1") -> Envelope:
    return Envelope.new(
        channel="in",
        raw=b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|" + control_id.encode() + b"|P|2.5\r",
        content_type=HL7V2,
        metadata={"hl7.control_id": control_id, "hl7.message_type": "ADT"},
    )


async def routed(store: Store, outcome: RoutingOutcome, env: Envelope | None = None):  # type: ignore[no-untyped-def]
    env = env or envelope()
    await store.accept(env)
    await store.start_processing(env.id)
    return env, await store.finish_routing(env.id, outcome)


async def test_two_routes_to_one_destination_make_two_deliveries_in_route_order(
    store: Store,
) -> None:
    # Given routes 'bundle' then 'notify' both sending to 'platform' (ordered by patient)
    outcome = RoutingOutcome(
        MessageState.ROUTED,
        "matched route 'bundle', 'notify'",
        [("platform", "bundle"), ("archive", "bundle"), ("platform", "notify")],
        {"platform": "P1"},
    )
    env, pending = await routed(store, outcome)
    # Then each pair is its own delivery, listed in route order, each with its route
    assert [(d.destination, d.route) for d in pending] == [
        ("platform", "bundle"),
        ("archive", "bundle"),
        ("platform", "notify"),
    ]
    first, _, second = pending
    # and routing again (a crash re-run) creates nothing new
    again = await store.finish_routing(env.id, outcome)
    assert [d.id for d in again] == [d.id for d in pending]
    # the second route's delivery waits for the first one's (same message, same key)
    blocker = await store.order_blocker(second)
    assert blocker is not None and (blocker.message_id, blocker.delivery_id) == (env.id, first.id)
    assert await store.order_blocker(first) is None
    runnable = [i for i, _ in (await store.runnable(utcnow())).deliveries]
    assert first.id in runnable and second.id not in runnable
    await store.record_attempt(first.id, DeliveryState.SENT, "ok")
    head = await store.next_in_order("platform", "P1")
    assert head is not None and head.id == second.id
    assert await store.order_blocker(second) is None


async def test_a_later_message_waits_for_every_route_of_an_earlier_one(store: Store) -> None:
    pairs = [("platform", "bundle"), ("platform", "notify")]
    outcome = RoutingOutcome(MessageState.ROUTED, "r", pairs, {"platform": "P1"})
    _, (a1, a2) = await routed(store, outcome)
    _, (b1, _) = await routed(store, outcome, envelope("C2"))
    await store.record_attempt(a1.id, DeliveryState.SENT, "ok")
    blocker = await store.order_blocker(b1)
    assert blocker is not None and blocker.delivery_id == a2.id
    await store.record_attempt(a2.id, DeliveryState.SENT, "ok")
    head = await store.next_in_order("platform", "P1")
    assert head is not None and head.id == b1.id


async def test_routing_facts_are_merged_into_the_stored_metadata(store: Store) -> None:
    env = envelope("F1")
    facts = {"pam.ins_status": "VALI", "hl7.message_type": "ADT", "route.fact": "x"}
    outcome = RoutingOutcome(MessageState.ROUTED, "r", [("a", "r")], metadata=facts)
    await routed(store, outcome, env)
    got = (await store.get_message(env.id)).envelope.metadata
    assert dict(got) == {"hl7.control_id": "F1", "hl7.message_type": "ADT", **facts}
    (listed,) = await store.list_messages(MessageQuery(control_id="F1"))
    assert listed.envelope.metadata["pam.ins_status"] == "VALI"
    assert listed.state is MessageState.ROUTED


async def test_a_replay_keeps_each_routes_delivery_and_adopts_a_renamed_route(
    store: Store,
) -> None:
    pairs = [("platform", "bundle"), ("platform", "notify")]
    env, (bundle, notify) = await routed(store, RoutingOutcome(MessageState.ROUTED, "r", pairs))
    await store.record_attempt(bundle.id, DeliveryState.SENT, "ok")
    await store.record_attempt(notify.id, DeliveryState.DEAD, "refused")
    assert (await store.request_replay(env.id)).replayed
    await store.start_processing(env.id)
    # the notify route was renamed 'notify2': its dead delivery is reset under the new name
    renamed = [("platform", "bundle"), ("platform", "notify2")]
    pending = await store.finish_routing(env.id, RoutingOutcome(MessageState.ROUTED, "r2", renamed))
    assert [(d.id, d.route, d.state) for d in pending] == [
        (notify.id, "notify2", DeliveryState.PENDING)
    ]
    assert (await store.get_delivery(bundle.id)).state is DeliveryState.SENT
    assert len(await store.deliveries(env.id)) == 2
