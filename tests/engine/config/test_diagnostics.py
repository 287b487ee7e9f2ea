from __future__ import annotations

from pathlib import Path

from engine.config.diagnostics import (
    Diagnostic,
    did_you_mean,
    render,
    sort_diagnostics,
    suggest,
    summary,
)


def test_str_is_compiler_style() -> None:
    diag = Diagnostic("routes.yaml", 42, 7, "error", "unknown-destination", "nope")
    assert str(diag) == "routes.yaml:42:7: error[unknown-destination] nope"
    assert diag.is_error


def test_did_you_mean_finds_close_names_only() -> None:
    assert suggest("archve", ["archive", "dmp"]) == "archive"
    assert did_you_mean("archve", ["archive", "dmp"]) == " (did you mean 'archive'?)"
    assert did_you_mean("zzz", ["archive", "dmp"]) == ""
    assert did_you_mean("x", []) == ""


def test_render_prints_source_line_and_caret() -> None:
    # Given a diagnostic on the 4th column of line 2
    text = "routes:\n  - to: [archve]\n"
    diag = Diagnostic("r.yaml", 2, 10, "error", "unknown-destination", "sends to 'archve'")
    # When it is rendered with the source
    out = render([diag], {"r.yaml": text})
    # Then the line is quoted and the caret sits under column 10
    assert out == (
        "r.yaml:2:10: error[unknown-destination] sends to 'archve'\n"
        " 2 |   - to: [archve]\n"
        "   |          ^---"
    )


def test_render_keeps_tabs_so_the_caret_lines_up() -> None:
    diag = Diagnostic("r.yaml", 1, 4, "warning", "x", "m")
    out = render([diag], {"r.yaml": "a:\tbad\n"})
    assert out.splitlines()[-1] == "   |   \t^---"


def test_render_without_source_prints_the_header_only(tmp_path: Path) -> None:
    missing = str(tmp_path / "gone.yaml")
    diag = Diagnostic(missing, 3, 1, "error", "io-error", "cannot read")
    assert render([diag]) == str(diag)
    assert render([Diagnostic("r.yaml", 9, 1, "error", "x", "m")], {"r.yaml": "a: 1\n"}) == (
        "r.yaml:9:1: error[x] m"
    )


def test_render_reads_files_when_no_sources_given(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("version: 2\n", encoding="utf-8")
    diag = Diagnostic(str(path), 1, 10, "error", "invalid-value", "version: Input should be 1")
    assert render([diag]).splitlines()[1:] == [" 1 | version: 2", "   |          ^---"]


def test_sort_and_summary() -> None:
    a = Diagnostic("f", 2, 1, "warning", "w", "m")
    b = Diagnostic("f", 1, 5, "error", "e", "m")
    c = Diagnostic("f", 2, 1, "error", "e", "m")
    assert sort_diagnostics([a, b, c, b]) == [b, c, a]
    assert summary([a, b, c]) == "2 errors, 1 warning"
    assert summary([]) == "0 errors, 0 warnings"
