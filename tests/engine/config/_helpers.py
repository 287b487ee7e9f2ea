"""Helpers shared by the config tests."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from engine.config.diagnostics import Diagnostic


def y(text: str) -> str:
    """Dedent a YAML snippet written inside a test."""
    return textwrap.dedent(text).lstrip("\n")


def at(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, col) of the ``nth`` occurrence of ``needle`` in ``text``."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def where(diagnostics: Iterable[Diagnostic]) -> list[tuple[int, int, str, str]]:
    """(line, col, level, code) of each diagnostic, for compact assertions."""
    return [(d.line, d.col, d.level, d.code) for d in diagnostics]
