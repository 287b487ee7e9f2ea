"""Graph checks: names, references, drop/continue, _unmatched, reachability."""

from __future__ import annotations

from engine.config import check_text

from ._helpers import at, where, y

HEAD = """
version: 1
channels:
  mllp_in: {type: test_src, listen: "127.0.0.1:0"}
  files_in: {type: test_src_alt, directory: /in}
destinations:
  archive: {type: test_dest, directory: /a}
  dmp: {type: test_dest_alt, endpoint: "127.0.0.1:1"}
routes:
"""


def routes(body: str) -> str:
    return y(HEAD) + y(body)


def test_unknown_channels_in_from_and_when() -> None:
    text = routes(
        """
        - name: a
          from: [mllp_in, mlp_in]
          when: {channel: [file_in]}
          to: [archive, dmp]
        """
    )
    diags = check_text(text)
    assert where(diags) == [
        (*at(text, "mlp_in]"), "error", "unknown-channel"),
        (*at(text, "file_in]"), "error", "unknown-channel"),
    ]
    assert (
        diags[0].message
        == "route 'a' reads from unknown channel 'mlp_in' (did you mean 'mllp_in'?)"
    )
    assert diags[1].message.endswith("(did you mean 'files_in'?)")


def test_duplicate_route_names() -> None:
    text = routes(
        """
        - {name: a, from: [mllp_in], to: [archive]}
        - {name: a, from: [files_in], to: [dmp]}
        """
    )
    diags = check_text(text)
    assert where(diags) == [(*at(text, "a,", 1), "error", "duplicate-route")]
    assert "already used by routes[0]" in diags[0].message


def test_drop_rules() -> None:
    text = routes(
        """
        - {name: a, when: {processing_id: T}, drop: true, to: [archive]}
        - {name: b, when: {processing_id: D}, drop: true, continue: true}
        - {name: c, when: {processing_id: P}}
        - {name: d, when: {processing_id: X}, to: []}
        - {name: e, to: [archive, dmp]}
        """
    )
    assert where(check_text(text)) == [
        (*at(text, "to: [archive]}"), "error", "drop-with-to"),
        (*at(text, "continue"), "error", "drop-continue"),
        (*at(text, "{name: c"), "error", "no-destination"),
        (*at(text, "to: []"), "error", "no-destination"),
    ]


def test_unmatched_misuse() -> None:
    text = routes(
        """
        - name: _unmatched
          from: [mllp_in]
          when: {message_type: ADT}
          to: [archive]
        - {name: b, when: {message_type: ORU}, to: [dmp]}
        """
    )
    diags = check_text(text)
    assert where(diags) == [
        (*at(text, "_unmatched"), "error", "reserved-route"),
        (*at(text, "from:"), "error", "reserved-route"),
        (*at(text, "when:"), "error", "reserved-route"),
    ]
    assert "must be the last route" in diags[0].message


def test_unmatched_as_last_route_is_fine_but_cannot_drop() -> None:
    ok = routes(
        "- {name: a, when: {version: '2.5'}, to: [archive]}\n- {name: _unmatched, to: [dmp]}\n"
    )
    assert check_text(ok) == []
    dropping = routes(
        "- {name: a, when: {version: '2.5'}, to: [archive, dmp]}\n"
        "- {name: _unmatched, drop: true}\n"
    )
    assert [d.code for d in check_text(dropping)] == ["reserved-route"]


def test_routes_after_a_catch_all_are_unreachable() -> None:
    text = routes(
        """
        - {name: some, when: {message_type: ADT}, to: [dmp]}
        - {name: all, to: [archive]}
        - {name: later, from: [mllp_in], to: [dmp]}
        - {name: _unmatched, to: [dmp]}
        """
    )
    diags = check_text(text)
    assert where(diags) == [
        (*at(text, "{name: later"), "warning", "unreachable-route"),
        (*at(text, "{name: _unmatched"), "warning", "unreachable-route"),
    ]
    assert all(not d.is_error for d in diags)


def test_continue_and_empty_when_decide_what_is_a_catch_all() -> None:
    continuing = routes(
        """
        - {name: copy_all, to: [archive], continue: true}
        - {name: adt, when: {message_type: ADT}, to: [dmp]}
        """
    )
    assert check_text(continuing) == []
    empty_when = routes(
        """
        - {name: all, when: {}, to: [archive]}
        - {name: adt, when: {message_type: ADT}, to: [dmp]}
        """
    )
    assert [d.code for d in check_text(empty_when)] == ["unreachable-route"]
    dropping_all = routes(
        """
        - {name: adt, when: {message_type: ADT}, to: [archive, dmp]}
        - {name: rest, drop: true}
        - {name: never, to: [dmp]}
        """
    )
    assert [d.code for d in check_text(dropping_all)] == ["unreachable-route"]


def test_unused_destinations_warn_and_unused_channels_do_not() -> None:
    text = routes("- {name: a, from: [mllp_in], to: [archive]}\n")
    diags = check_text(text)
    assert where(diags) == [(*at(text, "dmp:"), "warning", "unused-destination")]


def test_no_routes_warns_once_when_channels_exist() -> None:
    text = y(HEAD).replace("routes:\n", "")
    assert [d.code for d in check_text(text)] == ["no-routes"]
    assert where(check_text(y(HEAD))) == [(*at(y(HEAD), "routes"), "warning", "no-routes")]
    assert check_text("version: 1\n") == []


def test_checks_run_even_when_validation_fails() -> None:
    text = routes("- {name: a, to: [archve], drop: maybe}\n")
    codes = [d.code for d in check_text(text)]
    assert "invalid-value" in codes and "unknown-destination" in codes
