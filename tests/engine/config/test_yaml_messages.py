"""YAML structure errors: whatever the text, parsing never raises, and a syntax error is one
diagnostic inside the file whose message keeps the parser's own words."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.config.document import parse_document

LINES = st.lists(
    st.tuples(
        st.integers(0, 6),
        st.sampled_from(["a:", "b: 1", "- x", "c: [1, 2", 'd: "x', "e: f: g", "\tt: 1", "- y: 2"]),
    ),
    min_size=1,
    max_size=8,
)


@given(LINES)
def test_every_yaml_error_is_positioned_and_keeps_the_parser_text(
    lines: list[tuple[int, str]],
) -> None:
    text = "".join(" " * indent + line + "\n" for indent, line in lines)
    doc = parse_document(text, "routes.yaml", {})
    syntax = [d for d in doc.diagnostics if d.code == "yaml-syntax"]
    assert len(syntax) <= 1
    for diagnostic in syntax:
        assert 1 <= diagnostic.line <= len(lines) + 1
        assert diagnostic.col >= 1
        plain, _, parser = diagnostic.message.partition(" [YAML: ")
        assert plain and (not parser or parser.endswith("]"))
