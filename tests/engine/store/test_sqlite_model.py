"""Model-based test: random sequences of store operations against a plain-dict model.

Each rule applies one store operation and the same change to the model; the invariant
checks that the store's states, deliveries and unfinished-work list agree with the model.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from engine.message import HL7V2, DeliveryState, Envelope, MessageState
from engine.store.base import RoutingOutcome
from engine.store.sqlite import SqliteStore

DESTINATIONS = ["a", "b", "c"]
PAIRS = [(d, r) for d in DESTINATIONS for r in ("r1", "r2")]
OUTCOMES = [MessageState.ROUTED, MessageState.FILTERED, MessageState.UNMATCHED]


class StoreMachine(RuleBasedStateMachine):
    @initialize()
    def open_store(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.dir = tempfile.TemporaryDirectory()
        self.store = SqliteStore(Path(self.dir.name) / "s.db")
        self.run(self.store.open())
        self.messages: dict[str, MessageState] = {}
        # delivery id -> (message, (destination, route), state, attempts)
        self.deliveries: dict[str, tuple[str, tuple[str, str], DeliveryState, int]] = {}

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        if hasattr(self, "store"):
            self.run(self.store.close())
            self.loop.close()
            self.dir.cleanup()

    @rule(reject=st.booleans())
    def accept(self, reject: bool) -> None:
        env = Envelope.new(channel="c", raw=b"MSH|x", content_type=HL7V2)
        if reject:
            self.run(self.store.reject(env, "bad"))
            self.messages[env.id] = MessageState.REJECTED
        else:
            self.run(self.store.accept(env))
            self.messages[env.id] = MessageState.RECEIVED

    @precondition(lambda self: self.messages)
    @rule(data=st.data())
    def start_processing(self, data: st.DataObject) -> None:
        mid = data.draw(st.sampled_from(sorted(self.messages)))
        got = self.run(self.store.start_processing(mid))
        if self.messages[mid].finished:
            assert got is None
        else:
            assert got is not None and got.state is MessageState.PROCESSING
            self.messages[mid] = MessageState.PROCESSING

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
            again = current if current is DeliveryState.SENT else DeliveryState.PENDING
            self.deliveries[did] = (m, pair, again, attempts)
        for did in spare.values():
            m, pair, current, attempts = self.deliveries[did]
            if current is not DeliveryState.SENT:
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
        assert (got.state, got.attempts) == self.deliveries[did][2:]

    @invariant()
    def store_agrees_with_model(self) -> None:
        if not hasattr(self, "store"):
            return
        todo = self.run(self.store.unfinished())
        expected = sorted(m for m, s in self.messages.items() if not s.finished)
        assert todo.message_ids == expected
        open_deliveries = sorted(d for d, v in self.deliveries.items() if not v[2].finished)
        assert sorted(i for i, _ in todo.deliveries) == open_deliveries
        counts = self.run(self.store.count_by_state())
        for state in MessageState:
            assert counts.get(state, 0) == sum(1 for s in self.messages.values() if s is state)


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
