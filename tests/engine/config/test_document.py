"""YAML with positions: keys, values, duplicates, anchors, tags, ${VAR} positions."""

from __future__ import annotations

from engine.config.document import parse_document

from ._helpers import at, where, y


def test_positions_of_keys_and_values() -> None:
    text = y(
        """
        version: 1
        channels:
          mllp_in:
            type: mllp
            listen: "127.0.0.1:2575"
        routes:
          - name: a
            to: [x, y]
        """
    )
    doc = parse_document(text, "r.yaml", {})
    assert doc.diagnostics == []
    assert doc.data["routes"][0]["to"] == ["x", "y"]
    assert doc.key_positions[("channels", "mllp_in")] == at(text, "mllp_in")
    assert doc.value_positions[("channels", "mllp_in", "listen")] == at(text, '"127')
    assert doc.value_positions[("routes", 0)] == at(text, "name: a")
    assert doc.value_positions[("routes", 0, "to", 1)] == at(text, "y]")
    # A path with no position of its own falls back to its nearest parent.
    assert doc.position(("routes", 0, "to", 7)) == at(text, "[x")
    assert doc.position(("routes", 0, "nope"), key=True) == at(text, "name: a")


def test_duplicate_keys_are_errors_at_the_second_key() -> None:
    text = y(
        """
        channels:
          a: {type: x}
          a: {type: y}
        """
    )
    doc = parse_document(text, "r.yaml", {})
    assert where(doc.diagnostics) == [(*at(text, "a:", 1), "error", "duplicate-key")]
    assert "first written at line 2, column 3" in doc.diagnostics[0].message
    assert doc.data == {"channels": {"a": {"type": "x"}}}


def test_anchors_aliases_and_merge_keys() -> None:
    text = y(
        """
        base: &base {type: test_dest, directory: /a}
        destinations:
          one:
            <<: *base
            directory: /b
          two: *base
        """
    )
    doc = parse_document(text, "r.yaml", {})
    assert doc.diagnostics == []
    assert doc.data["destinations"]["one"] == {"type": "test_dest", "directory": "/b"}
    assert doc.data["destinations"]["two"] == {"type": "test_dest", "directory": "/a"}
    # Merged keys point at the anchor, explicit ones at themselves.
    assert doc.value_positions[("destinations", "one", "type")] == at(text, "test_dest")
    assert doc.value_positions[("destinations", "one", "directory")] == at(text, "/b")
    assert doc.value_positions[("destinations", "one")] == at(text, "<<")


def test_bad_merge_recursive_alias_unknown_tag_and_complex_key() -> None:
    text = y(
        """
        a: {<<: 3}
        b: &loop [*loop]
        c: !env FOO
        ? [k]
        : 1
        """
    )
    doc = parse_document(text, "r.yaml", {})
    assert where(doc.diagnostics) == [
        (*at(text, "3}"), "error", "invalid-value"),
        (*at(text, "&loop"), "error", "invalid-value"),
        (*at(text, "!env"), "error", "unsupported-tag"),
        (*at(text, "[k]"), "error", "invalid-key"),
    ]


def test_non_string_scalars_keep_their_source_text() -> None:
    doc = parse_document("a: 2.5\nb: 0123\nc: yes\nd: text\ne: ~\n", "r.yaml", {})
    assert doc.data == {"a": 2.5, "b": 83, "c": True, "d": "text", "e": None}
    assert doc.scalar_text == {("a",): "2.5", ("b",): "0123", ("c",): "yes"}


def test_interpolation_in_plain_and_quoted_scalars() -> None:
    text = y(
        """
        a: 127.0.0.1:${PORT:-2575}
        b: "${HOME_DIR}/out"
        c: '$${literal}'
        d: ${WORKERS:-4}
        """
    )
    doc = parse_document(text, "r.yaml", {"HOME_DIR": "/srv"})
    assert doc.diagnostics == []
    assert doc.data == {"a": "127.0.0.1:2575", "b": "/srv/out", "c": "${literal}", "d": "4"}


def test_missing_variables_point_inside_the_scalar() -> None:
    text = y(
        """
        a: 127.0.0.1:${PORT}
        b: "x ${HOST}"
        c: |
          ${BLOCK}
        """
    )
    doc = parse_document(text, "r.yaml", {})
    assert where(doc.diagnostics) == [
        (*at(text, "${PORT}"), "error", "missing-env-var"),
        (*at(text, "${HOST}"), "error", "missing-env-var"),
        (*at(text, "|"), "error", "missing-env-var"),  # block scalar: its start
    ]
    assert doc.tainted == {("a",), ("b",), ("c",)}


def test_keys_are_not_interpolated() -> None:
    doc = parse_document("${A}: 1\n", "r.yaml", {})
    assert doc.diagnostics == []
    assert doc.data == {"${A}": 1}


def test_syntax_errors_are_positioned() -> None:
    cases = {
        "version: 1\nchannels:\n  a: [b\n": (4, 1),
        "version: 1\nroutes:\n  - name: a\n   to: [x]\n": (4, 4),
        "a:\n\tb: 1\n": (2, 1),
        'a: "x\x07"\n': (1, 6),
    }
    for text, position in cases.items():
        doc = parse_document(text, "r.yaml", {})
        assert where(doc.diagnostics) == [(*position, "error", "yaml-syntax")], text
        assert doc.data is None


def test_a_second_document_is_refused() -> None:
    doc = parse_document("version: 1\n---\nversion: 1\n", "r.yaml", {})
    assert where(doc.diagnostics) == [(2, 1, "error", "yaml-syntax")]
    assert "single document" in doc.diagnostics[0].message


def test_empty_text() -> None:
    doc = parse_document("# nothing\n", "r.yaml", {})
    assert doc.data is None and doc.diagnostics == []
