"""Model-based test: random sequences of store operations against a plain-dict model.

Each rule applies one store operation and the same change to the model; the invariant
checks that the store's states, deliveries and unfinished-work list agree with the model.
"""

from __future__ import annotations

import asyncio

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from engine.message import HL7V2, DeliveryState, Envelope, MessageState, utcnow
from engine.store.base import RoutingOutcome
from tests.engine.store.conftest import StoreFactory

DESTINATIONS = ["a", "b", "c"]
PAIRS = [(d, r) for d in DESTINATIONS for r in ("r1", "r2")]
OWNERS = [None, "node-a:1", "node-b:2"]
OUTCOMES = [MessageState.ROUTED, MessageState.FILTERED, MessageState.UNMATCHED]


class StoreMachine(RuleBasedStateMachine):
    factory: StoreFactory

    @initialize()
    def open_store(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.store = self.factory()
        self.run(self.store.open())
        self.messages: dict[str, MessageState] = {}
        # delivery id -> (message, (destination, route), state, attempts)
        self.deliveries: dict[str, tuple[str, tuple[str, str], DeliveryState, int]] = {}
        self.claims: dict[str, str] = {}  # message or delivery id -> owner (live leases)

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        if hasattr(self, "store"):
            self.run(self.store.close())
            self.loop.close()

    @rule(reject=st.booleans())
    def accept(self, reject: bool) -> None:
        env = Envelope.new(channel="c", raw=b"MSH|x", content_type=HL7V2)
        if reject:
            self.run(self.store.reject(env, "bad"))
            self.messages[env.id] = MessageState.REJECTED
        else:
            self.run(self.store.accept(env))
            self.messages[env.id] = MessageState.RECEIVED

    def claimed_by_other(self, item: str, owner: str | None) -> bool:
        holder = self.claims.get(item)
        return holder is not None and holder != owner

    @precondition(lambda self: self.messages)
    @rule(data=st.data(), owner=st.sampled_from(OWNERS))
    def start_processing(self, data: st.DataObject, owner: str | None) -> None:
        mid = data.draw(st.sampled_from(sorted(self.messages)))
        got = self.run(self.store.start_processing(mid, owner=owner, lease=600))
        if self.messages[mid].finished or self.claimed_by_other(mid, owner):
            assert got is None
        else:
            assert got is not None and got.state is MessageState.PROCESSING
            self.messages[mid] = MessageState.PROCESSING
            if owner is not None:
                self.claims[mid] = owner

    @precondition(lambda self: self.deliveries)
    @rule(data=st.data(), owner=st.sampled_from(OWNERS[1:]))
    def claim(self, data: st.DataObject, owner: str) -> None:
        did = data.draw(st.sampled_from(sorted(self.deliveries)))
        got = self.run(self.store.claim_delivery(did, owner=owner, lease=600))
        if self.deliveries[did][2].finished or self.claimed_by_other(did, owner):
            assert got is None
        else:
            assert got is not None and got.claim_owner == owner
            self.claims[did] = owner

    @precondition(lambda self: any(s is MessageState.PROCESSING for s in self.messages.values()))
    @rule(data=st.data())
    def finish_routing(self, data: st.DataObject) -> None:
        processing = sorted(m for m, s in self.messages.items() if s is MessageState.PROCESSING)
        mid = data.draw(st.sampled_from(processing))
        state = data.draw(st.sampled_from(OUTCOMES))
        pairs = data.draw(st.lists(st.sampled_from(PAIRS), unique=True))
        if state is MessageState.FILTERED:
            pairs = []
        existing = {v[1]: d for d, v in self.deliveries.items() if v[0] == mid}
        pending = self.run(self.store.finish_routing(mid, RoutingOutcome(state, "r", pairs)))
        self.messages[mid] = state
        self.claims.pop(mid, None)
        # a replayed message: dead deliveries it still routes to are pending again, sent
        # ones are kept, and the ones it no longer routes to are superseded (dead), unless
        # a new route to the same destination adopts them (a renamed route)
        spare = {p: did for p, did in existing.items() if p not in pairs}
        for pair in pairs:
            did = existing.get(pair)
            if did is None:
                did = next((i for p, i in spare.items() if p[0] == pair[0]), None)
                if did is not None:
                    spare = {p: i for p, i in spare.items() if i != did}
            if did is None:
                continue
            m, _, current, attempts = self.deliveries[did]
            if current is not DeliveryState.SENT:  # reset: pending, unclaimed
                self.claims.pop(did, None)
            again = current if current is DeliveryState.SENT else DeliveryState.PENDING
            self.deliveries[did] = (m, pair, again, attempts)
        for did in spare.values():
            m, pair, current, attempts = self.deliveries[did]
            if current is not DeliveryState.SENT:  # superseded: dead, unclaimed
                self.claims.pop(did, None)
                self.deliveries[did] = (m, pair, DeliveryState.DEAD, attempts)
        for d in pending:
            if d.id not in self.deliveries:
                self.deliveries[d.id] = (mid, (d.destination, d.route), DeliveryState.PENDING, 0)
        expected = sorted(
            v[1] for v in self.deliveries.values() if v[0] == mid and not v[2].finished
        )
        assert sorted((d.destination, d.route) for d in pending) == expected
        assert [d.seq for d in pending] == sorted(d.seq for d in pending)

    @precondition(lambda self: self.messages)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        mid = data.draw(st.sampled_from(sorted(self.messages)))
        result = self.run(self.store.request_replay(mid))
        current = self.messages[mid]
        assert result.replayed == (current.finished and current is not MessageState.REJECTED)
        if result.replayed:
            self.messages[mid] = MessageState.RECEIVED

    @precondition(lambda self: self.deliveries)
    @rule(data=st.data(), outcome=st.sampled_from(list(DeliveryState)))
    def attempt(self, data: st.DataObject, outcome: DeliveryState) -> None:
        did = data.draw(st.sampled_from(sorted(self.deliveries)))
        mid, dest, _, attempts = self.deliveries[did]
        if outcome is DeliveryState.PENDING:
            got = self.run(self.store.requeue_delivery(did, "replay"))
            self.deliveries[did] = (mid, dest, DeliveryState.PENDING, attempts)
        else:
            got = self.run(self.store.record_attempt(did, outcome, "x", dedupe_key=f"k-{did}"))
            self.deliveries[did] = (mid, dest, outcome, attempts + 1)
        self.claims.pop(did, None)  # an attempt or a requeue ends the claim
        assert (got.state, got.attempts) == self.deliveries[did][2:]
        assert got.claim_owner is None

    @invariant()
    def store_agrees_with_model(self) -> None:
        if not hasattr(self, "store"):
            return
        todo = self.run(self.store.unfinished())
        expected = sorted(m for m, s in self.messages.items() if not s.finished)
        assert todo.message_ids == expected
        open_deliveries = sorted(d for d, v in self.deliveries.items() if not v[2].finished)
        assert sorted(i for i, _ in todo.deliveries) == open_deliveries
        work = self.run(self.store.runnable(utcnow()))  # what no live claim holds
        assert work.message_ids == [m for m in expected if m not in self.claims]
        assert sorted(i for i, _ in work.deliveries) == [
            d for d in open_deliveries if d not in self.claims
        ]
        counts = self.run(self.store.count_by_state())
        for state in MessageState:
            assert counts.get(state, 0) == sum(1 for s in self.messages.values() if s is state)


def test_the_store_agrees_with_a_model(store_factory: StoreFactory) -> None:
    machine = type("Machine", (StoreMachine,), {"factory": staticmethod(store_factory)})
    run_state_machine_as_test(
        machine, settings=settings(max_examples=25, stateful_step_count=30, deadline=None)
    )
