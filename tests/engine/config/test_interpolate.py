from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.config.interpolate import interpolate


def test_plain_strings_are_untouched() -> None:
    assert interpolate("127.0.0.1:2575", {}) == ("127.0.0.1:2575", [])
    assert interpolate("cost: $5 and $$", {}) == ("cost: $5 and $$", [])


def test_set_variables_and_defaults() -> None:
    env = {"PORT": "2600", "EMPTY": ""}
    assert interpolate("h:${PORT}", env)[0] == "h:2600"
    assert interpolate("h:${PORT:-1}", env)[0] == "h:2600"
    assert interpolate("h:${NOPE:-2575}", env)[0] == "h:2575"
    assert interpolate("${EMPTY:-x}", env)[0] == "x"  # like the shell: empty takes the default
    assert interpolate("${EMPTY}", env)[0] == ""
    assert interpolate("${NOPE:-}", env)[0] == ""
    assert interpolate("${PORT}-${PORT}", env)[0] == "2600-2600"


def test_default_may_hold_a_path() -> None:
    assert interpolate("${HOME_X:-./var}/out", {})[0] == "./var/out"


def test_double_dollar_escapes_a_reference() -> None:
    assert interpolate("$${NOT_A_VAR}", {}) == ("${NOT_A_VAR}", [])
    assert interpolate("a$${B}c${C:-d}", {}) == ("a${B}cd", [])


def test_missing_variable_is_reported_at_its_offset() -> None:
    value, problems = interpolate("host:${PORT}", {})
    assert value == "host:"
    assert [(p.offset, p.code) for p in problems] == [(5, "missing-env-var")]
    assert "'PORT' is not set" in problems[0].message


def test_bad_references() -> None:
    _, problems = interpolate("${1A} ${A-b} ${", {})
    assert [(p.offset, p.code) for p in problems] == [
        (0, "bad-interpolation"),
        (6, "bad-interpolation"),
        (13, "bad-interpolation"),
    ]
    assert "unterminated" in problems[2].message


@given(st.text().filter(lambda s: "$" not in s))
def test_text_without_dollar_is_identity(text: str) -> None:
    assert interpolate(text, {}) == (text, [])


@given(st.text(alphabet="ab{}$ -", max_size=20))
def test_escaped_text_comes_back_literally(text: str) -> None:
    # Escaping every "${" as "$${" yields the original text back.
    escaped = text.replace("${", "$${")
    if "$$${" in escaped:  # "$" right before an escape is ambiguous by design
        return
    assert interpolate(escaped, {}) == (text, [])
