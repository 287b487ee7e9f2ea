"""load_config end to end: a valid file, many errors at once, env references, warnings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.config import (
    WHEN_FIELDS,
    ChannelSpec,
    Config,
    check_file,
    check_text,
    load_config,
    load_config_text,
    render,
)
from engine.errors import ConfigError

from ._helpers import at, where, y
from .conftest import DestConfig, SrcConfig

VALID = """
version: 1
engine:
  home: ${PASSERELLE_HOME:-./var}
  workers: ${WORKERS:-4}
  shutdown_grace: 15s
retry:
  max_attempts: 10
  initial_backoff: 1s
  max_backoff: 5m
channels:
  mllp_in:
    type: test_src
    listen: 127.0.0.1:${MLLP_PORT:-2575}
destinations:
  archive:
    type: test_dest
    directory: ${PASSERELLE_HOME:-./var}/out
    retry: {max_attempts: 3}
  peer:
    type: test_dest_alt
    endpoint: "[::1]:2576"
routes:
  - name: adt_to_archive
    from: [mllp_in]
    when:
      message_type: ADT
      trigger_event: [A01, A03]
      version: 2.5
    to: [archive, peer]
    continue: true
  - name: drop_tests
    when: {processing_id: T}
    drop: true
  - name: _unmatched
    to: [archive]
"""


def test_valid_file(write: Callable[[str], Path]) -> None:
    # Given the documented example, with PASSERELLE_HOME set and the other variables unset
    path = write(VALID)
    # When it is loaded
    config = load_config(path, env={"PASSERELLE_HOME": "/srv/p"})
    # Then every section is typed and defaults are applied
    assert config.version == 1
    assert config.engine.home == Path("/srv/p")
    assert config.engine.workers == 4  # "4" from the default, validated as an int
    assert config.engine.shutdown_grace == 15.0
    assert config.store.backend == "sqlite"
    assert config.store.path == Path("/srv/p/store.db")
    assert config.retry.max_backoff == 300.0
    channel = config.channels["mllp_in"]
    assert isinstance(channel, ChannelSpec) and channel.type == "test_src"
    assert isinstance(channel.config, SrcConfig)
    assert channel.config.listen == ("127.0.0.1", 2575)
    archive = config.destinations["archive"]
    assert isinstance(archive.config, DestConfig)
    assert archive.config.directory == "/srv/p/out"
    assert archive.retry is not None and archive.retry.max_attempts == 3
    effective = config.retry_for("archive")
    assert (effective.max_attempts, effective.initial_backoff, effective.max_backoff) == (
        3,
        1.0,
        300.0,
    )
    assert config.retry_for("peer") == config.retry
    assert [r.name for r in config.routes] == ["adt_to_archive", "drop_tests", "_unmatched"]
    first, drop, unmatched = config.routes
    assert first.from_ == ("mllp_in",) and first.continue_ and first.to == ("archive", "peer")
    assert first.when is not None
    assert first.when.conditions() == {
        "message_type": ("ADT",),
        "trigger_event": ("A01", "A03"),
        "version": ("2.5",),  # YAML read a float; the source text is kept
    }
    assert drop.drop and drop.to is None and not drop.is_catch_all
    assert unmatched.is_unmatched and not unmatched.is_catch_all
    assert config.warnings == ()


def test_minimal_file_gets_defaults() -> None:
    config = load_config_text("version: 1\nengine:\nstore:\n")
    assert config.engine.workers == 4
    assert config.engine.shutdown_grace == 10.0
    assert config.store.path == Path("var/store.db")
    assert config.retry.max_attempts is None and config.retry.max_age == 86400.0
    assert config.retry.circuit.enabled and config.retry.circuit.failures == 5
    assert config.channels == {} and config.destinations == {} and config.routes == ()


MANY_ERRORS = """
version: 1
engine:
  workers: many
channels:
  mllp_in:
    type: test_src
    listen: 127.0.0.1:${MLLP_PORT}
    lisen: x
  other:
    type: test_srcc
destinations:
  archive:
    type: test_dest
    directory: /tmp/a
    directory: /tmp/b
routes:
  - name: adt
    from: [mllp_in]
    to: [archve]
"""


def test_every_error_is_reported_at_once_with_line_and_column(
    write: Callable[[str], Path],
) -> None:
    # Given a file with six different mistakes
    path = write(MANY_ERRORS)
    # When it is loaded
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    # Then all are reported, sorted by position, each at its exact line and column
    diags = caught.value.diagnostics
    assert where(diags) == [
        (3, 12, "error", "invalid-value"),  # workers: many
        (7, 23, "error", "missing-env-var"),  # the "${" of ${MLLP_PORT}
        (8, 5, "error", "unknown-key"),  # lisen
        (10, 11, "error", "unknown-type"),  # test_srcc
        (12, 3, "warning", "unused-destination"),  # archive (the route names 'archve')
        (15, 5, "error", "duplicate-key"),  # the second 'directory'
        (19, 10, "error", "unknown-destination"),  # archve
    ]
    assert all(d.file == str(path) for d in diags)
    messages = [d.message for d in diags]
    assert "engine.workers: Input should be a valid integer" in messages[0]
    assert "'MLLP_PORT' is not set" in messages[1]
    assert messages[2] == "unknown key 'lisen' in channels.mllp_in (did you mean 'listen'?)"
    assert messages[3].startswith("unknown channel type 'test_srcc' (did you mean 'test_src'?)")
    assert "test_src, test_src_alt" in messages[3]
    assert messages[6] == "route 'adt' sends to 'archve' (did you mean 'archive'?)"
    # And the exception text lists the errors, one per line
    text = str(caught.value)
    assert text.splitlines()[0] == f"invalid configuration {path}: 6 errors, 1 warning"
    assert f"{path}:19:10: error[unknown-destination]" in text


def test_render_of_a_load_error_shows_the_caret(write: Callable[[str], Path]) -> None:
    path = write(MANY_ERRORS)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    out = render(caught.value.diagnostics)
    assert (
        f"{path}:19:10: error[unknown-destination] route 'adt' sends to 'archve'"
        " (did you mean 'archive'?)\n"
        " 19 |     to: [archve]\n"
        "    |          ^---"
    ) in out


def test_type_specific_errors_map_to_their_keys() -> None:
    text = y(
        """
        version: 1
        channels:
          a:
            type: test_src
            listen: nowhere
            timeout: 30
          b:
            type: test_src
          c: [not, a, mapping]
          d:
            listen: 1.2.3.4:5
          E:
            type: 5
        destinations:
          out:
            type: test_dest
            directory: /x
            retry: {max_attempts: 0, backof: 1s}
        routes:
          - name: r
            to: [out]
        """
    )
    diags = check_text(text)
    assert where(diags) == [
        (*at(text, "nowhere"), "error", "invalid-value"),
        (*at(text, "30"), "error", "invalid-value"),
        (*at(text, "b:"), "error", "missing-key"),
        (*at(text, "[not"), "error", "invalid-value"),
        (*at(text, "d:"), "error", "missing-key"),
        (*at(text, "E:"), "error", "invalid-value"),
        (at(text, "type: 5")[0], at(text, "type: 5")[1] + 6, "error", "invalid-value"),
        (*at(text, "0,"), "error", "invalid-value"),
        (*at(text, "backof"), "error", "unknown-key"),
    ]
    by_line = {d.line: d.message for d in diags}
    assert "expected host:port" in by_line[at(text, "nowhere")[0]]
    assert "expected a duration" in by_line[at(text, "30")[0]]
    assert by_line[at(text, "b:")[0]] == "channels.b: missing required key 'listen'"
    assert by_line[at(text, "[not")[0]] == "channels.c: expected a mapping, got a list"
    assert "has no 'type'" in by_line[at(text, "d:")[0]]
    assert "'E' is not a valid name" in by_line[at(text, "E:")[0]]
    assert by_line[at(text, "backof")[0]] == (
        "unknown key 'backof' in destinations.out.retry (did you mean 'max_backoff'?)"
    )


def test_top_level_and_route_keys() -> None:
    text = y(
        """
        version: 2
        chanels: {}
        routes:
          - name: Bad-Name
            when: {mesage_type: ADT, trigger_event: []}
            to: [x]
            contine: true
        """
    )
    diags = check_text(text)
    codes = {(d.line, d.col): (d.code, d.message) for d in diags if d.is_error}
    assert codes[at(text, "2")] == ("invalid-value", "version: Input should be 1")
    assert codes[at(text, "chanels")] == (
        "unknown-key",
        "unknown key 'chanels' in the top level (did you mean 'channels'?)",
    )
    assert codes[at(text, "Bad-Name")][0] == "invalid-value"
    assert codes[at(text, "mesage_type")] == (
        "unknown-key",
        "unknown key 'mesage_type' in routes[0].when (did you mean 'message_type'?)",
    )
    assert codes[at(text, "[]")][0] == "invalid-value"
    assert codes[at(text, "contine")][1].endswith("(did you mean 'continue'?)")
    assert codes[at(text, "[x]", 0)[0], at(text, "x]")[1]][0] == "unknown-destination"


def test_python_attribute_names_are_not_file_keys() -> None:
    text = "version: 1\nroutes: [{name: a, drop: true, continue_: false}]\n"
    diags = check_text(text)
    assert where(diags) == [(*at(text, "continue_"), "error", "unknown-key")]
    assert diags[0].message.endswith("(did you mean 'continue'?)")


def test_missing_version_and_empty_file() -> None:
    assert where(check_text("engine: {}\n")) == [(1, 1, "error", "missing-key")]
    assert check_text("engine: {}\n")[0].message == "missing required key 'version'"
    empty = check_text("")
    assert where(empty) == [(1, 1, "error", "missing-key")]
    assert "empty" in empty[0].message
    assert where(check_text("- 1\n")) == [(1, 1, "error", "invalid-value")]


def test_interpolated_values_are_validated_and_missing_ones_not_twice() -> None:
    text = "version: 1\nengine:\n  workers: ${W:-0}\n  home: ${NOPE}\n"
    diags = check_text(text, env={})
    # workers "0" is validated (>= 1); home fails once, for the variable only.
    assert where(diags) == [(3, 12, "error", "invalid-value"), (4, 9, "error", "missing-env-var")]
    config = load_config_text(text.replace("${NOPE}", "$${NOPE}"), env={"W": "2"})
    assert config.engine.workers == 2
    assert config.engine.home == Path("${NOPE}")


def test_environment_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSERELLE_TEST_WORKERS", "7")
    config = load_config_text("version: 1\nengine: {workers: '${PASSERELLE_TEST_WORKERS}'}\n")
    assert config.engine.workers == 7


def test_warnings_are_kept_and_not_fatal() -> None:
    text = y(
        """
        version: 1
        channels:
          in: {type: test_src, listen: "127.0.0.1:0"}
        destinations:
          a: {type: test_dest, directory: /a}
          spare: {type: test_dest, directory: /b}
        routes:
          - name: everything
            to: [a, a]
          - name: never
            when: {message_type: ADT}
            to: [a]
        """
    )
    config = load_config_text(text)
    assert where(config.warnings) == [
        (*at(text, "spare"), "warning", "unused-destination"),
        (*at(text, "a]"), "warning", "duplicate-destination"),
        (*at(text, "name: never"), "warning", "unreachable-route"),
    ]
    assert "route 'everything' above matches every message" in config.warnings[2].message


def test_retry_bounds() -> None:
    base = "version: 1\ndestinations:\n  d: {type: test_dest, directory: /d, retry: {%s}}\n"
    base += "routes: [{name: r, to: [d]}]\n"
    assert load_config_text(base % "max_backoff: 2s").retry_for("d").max_backoff == 2.0
    text = base % "initial_backoff: 10m"
    diags = check_text(text)
    assert where(diags) == [(*at(text, "{initial"), "error", "invalid-value")]
    assert "max_backoff (300s) is shorter than initial_backoff (600s)" in diags[0].message
    top = check_text("version: 1\nretry: {initial_backoff: 1h}\n")
    assert where(top) == [(2, 8, "error", "invalid-value")]
    assert "must not be shorter" in top[0].message


def test_check_file_reports_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert where(check_file(missing)) == [(1, 1, "error", "io-error")]
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert caught.value.diagnostics[0].code == "io-error"
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"version: 1\nname: caf\xe9\n")
    assert where(check_file(bad)) == [(2, 10, "error", "encoding-error")]


def test_check_file_returns_everything_for_a_clean_file(write: Callable[[str], Path]) -> None:
    assert check_file(write(VALID), env={}) == []


def test_when_keys_cover_every_documented_field() -> None:
    from engine.config import When

    assert set(When.model_fields) == set(WHEN_FIELDS)
    assert WHEN_FIELDS["message_type"] == "hl7.message_type"
    assert WHEN_FIELDS["channel"] == "channel"
    assert WHEN_FIELDS["content_type"] == "content_type"
    assert len([k for k, v in WHEN_FIELDS.items() if v.startswith("hl7.")]) == 9


def test_config_is_frozen() -> None:
    config = load_config_text("version: 1\n")
    with pytest.raises(ValueError):
        config.engine = config.engine  # type: ignore[misc]
    assert isinstance(config, Config)
