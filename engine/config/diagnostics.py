"""Positioned problems found in a configuration file, and their rendering for humans.

A :class:`Diagnostic` points at a 1-based line and column of a file. :func:`render` prints
each one as ``file:line:col: level[code] message`` followed by the source line and a caret,
the way compilers do, so a user can jump straight to the offending key.

Codes form a closed vocabulary (see ``docs/configuration.md``): ``yaml-syntax``,
``duplicate-key``, ``invalid-key``, ``unsupported-tag``, ``missing-env-var``,
``bad-interpolation``, ``unknown-key``, ``missing-key``, ``invalid-value``, ``unknown-type``,
``unknown-channel``, ``unknown-destination``, ``duplicate-route``, ``reserved-route``,
``drop-with-to``, ``drop-continue``, ``no-destination``, ``unreachable-route``,
``unused-destination``, ``duplicate-destination``, ``no-routes``, ``io-error``,
``encoding-error``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Level = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem at ``file:line:col`` (both 1-based); ``code`` is a stable kebab-case id."""

    file: str
    line: int
    col: int
    level: Level
    code: str
    message: str

    @property
    def is_error(self) -> bool:
        return self.level == "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.level}[{self.code}] {self.message}"


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word`` (difflib ratio >= 0.6), or None."""
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` when a candidate is close to ``word``, else ``""``."""
    match = suggest(word, candidates)
    return f" (did you mean {match!r}?)" if match is not None else ""


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Drop exact duplicates and order by file, position, then errors before warnings."""
    unique = dict.fromkeys(diagnostics)
    return sorted(unique, key=lambda d: (d.file, d.line, d.col, d.level != "error", d.code))


def summary(diagnostics: Iterable[Diagnostic]) -> str:
    """``"2 errors, 1 warning"``."""
    items = list(diagnostics)
    errors = sum(1 for d in items if d.is_error)
    warnings = len(items) - errors
    return f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str] | None = None) -> str:
    """Render diagnostics, each followed by its source line and a ``^---`` caret.

    Args:
        diagnostics: what to print, in the given order.
        sources: file name -> file text. When None, files are read from disk; a file that
            cannot be read is rendered without source lines.

    Returns:
        The text, lines separated by ``\\n``, without a trailing newline.
    """
    texts: dict[str, list[str] | None] = {}
    blocks: list[str] = []
    for diag in diagnostics:
        if diag.file not in texts:
            texts[diag.file] = _source_lines(diag.file, sources)
        blocks.append(str(diag))
        lines = texts[diag.file]
        if lines is not None and 1 <= diag.line <= len(lines):
            blocks.extend(_excerpt(lines[diag.line - 1], diag.line, diag.col))
    return "\n".join(blocks)


def _source_lines(file: str, sources: Mapping[str, str] | None) -> list[str] | None:
    if sources is not None:
        text = sources.get(file)
    else:
        try:
            text = Path(file).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            text = None
    return text.splitlines() if text is not None else None


def _excerpt(line: str, number: int, col: int) -> list[str]:
    gutter = str(number)
    # Keep tabs so that the caret lines up whatever the terminal's tab width.
    pad = "".join("\t" if ch == "\t" else " " for ch in line[: max(col - 1, 0)])
    return [f" {gutter} | {line}", f" {' ' * len(gutter)} | {pad}^---"]


__all__ = [
    "Diagnostic",
    "Level",
    "did_you_mean",
    "render",
    "sort_diagnostics",
    "suggest",
    "summary",
]
