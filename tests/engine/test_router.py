"""Router semantics: order, continue, drop, _unmatched, channel filters."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.message import HL7V2, Envelope, MessageState
from engine.router import DROP_REASON, CompiledRoute, Router, condition


def env(event: str = "A01", channel: str = "in", **meta: str) -> Envelope:
    metadata = {"hl7.message_type": "ADT", "hl7.trigger_event": event}
    metadata.update({f"hl7.{k}": v for k, v in meta.items()})
    return Envelope.new(channel=channel, raw=b"", content_type=HL7V2, metadata=metadata)


def route(
    name: str,
    to: tuple[str, ...] = (),
    *,
    drop: bool = False,
    cont: bool = False,
    channels: frozenset[str] | None = None,
    **when: str | list[str],
) -> CompiledRoute:
    conds = tuple(condition(f"hl7.{k}" if k not in ("channel",) else k, v) for k, v in when.items())
    return CompiledRoute(name, channels, conds, to, drop, cont)


def test_first_matching_route_wins() -> None:
    r = Router([route("a01", ("x",), trigger_event="A01"), route("all", ("y",))])
    out = r.route(env("A01"))
    assert out.state is MessageState.ROUTED
    assert list(out.deliveries) == [("x", "a01")]
    assert r.route(env("A03")).deliveries == (("y", "all"),)


def test_continue_keeps_every_destination_route_pair_in_route_order() -> None:
    # two routes sending to 'y' make two deliveries, each with its own route's transform
    r = Router([route("a", ("x", "y"), cont=True), route("b", ("y", "z"), trigger_event="A01")])
    out = r.route(env("A01"))
    assert list(out.deliveries) == [("x", "a"), ("y", "a"), ("y", "b"), ("z", "b")]
    assert out.reason == "matched route 'a', 'b'"


def test_drop_filters_with_the_rule_name() -> None:
    r = Router([route("tests", drop=True, processing_id="T"), route("all", ("x",))])
    out = r.route(env(processing_id="T"))
    assert (out.state, out.reason, tuple(out.deliveries)) == (
        MessageState.FILTERED,
        "dropped by route 'tests'",
        (),
    )
    assert r.route(env(processing_id="P")).state is MessageState.ROUTED


def test_unmatched_is_explicit_and_can_have_destinations() -> None:
    bare = Router([route("a01", ("x",), trigger_event="A01")])
    out = bare.route(env("A03"))
    assert (out.state, tuple(out.deliveries)) == (MessageState.UNMATCHED, ())
    with_fallback = Router(
        [route("a01", ("x",), trigger_event="A01"), route("_unmatched", ("dlq",))]
    )
    out = with_fallback.route(env("A03"))
    assert out.state is MessageState.UNMATCHED
    assert list(out.deliveries) == [("dlq", "_unmatched")]


def test_list_values_and_channel_filter() -> None:
    r = Router([route("adt", ("x",), channels=frozenset({"in"}), trigger_event=["A01", "A03"])])
    assert r.route(env("A03")).state is MessageState.ROUTED
    assert r.route(env("A03", channel="other")).state is MessageState.UNMATCHED
    assert r.route(env("A08")).state is MessageState.UNMATCHED


@settings(deadline=None)
@given(
    st.lists(st.sampled_from(["A01", "A02", "A03", "A08"]), max_size=4),
    st.sampled_from(["A01", "A02", "A03", "A08"]),
)
def test_every_message_gets_exactly_one_explicit_state(events: list[str], event: str) -> None:
    routes = [route(f"r{i}", (f"d{i}",), trigger_event=e) for i, e in enumerate(events)]
    out = Router(routes).route(env(event))
    if event in events:
        first = events.index(event)
        assert out.state is MessageState.ROUTED and list(out.deliveries) == [
            (f"d{first}", f"r{first}")
        ]
    else:
        assert out.state is MessageState.UNMATCHED and not out.deliveries


def test_intake_drop_marker_filters_before_any_route() -> None:
    r = Router([route("all", ("x",))])
    out = r.route(_dropped())
    assert (out.state, out.reason, tuple(out.deliveries)) == (
        MessageState.FILTERED,
        "dropped at intake: event A08 is not used in PAM-FR",
        (),
    )


def _dropped() -> Envelope:
    metadata = {"hl7.message_type": "ADT", DROP_REASON: "event A08 is not used in PAM-FR"}
    return Envelope.new(channel="in", raw=b"", content_type=HL7V2, metadata=metadata)
